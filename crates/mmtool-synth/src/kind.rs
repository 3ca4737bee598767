//! What kind of picture an image item's user would attach, inferred from the
//! answer tool (a ControlNet's condition, a restoration model's degraded
//! input) and refined by the item's `media_description`.

use mmtool_catalog::ToolCard;

use crate::lang::words;

/// The input a ControlNet-style tool is conditioned on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Condition {
    /// Thin white Canny edges on black.
    Canny,
    /// Grayscale depth, near bright.
    Depth,
    /// Lavender/blue surface-normal colouring.
    Normal,
    /// Flat ADE20K-palette class regions.
    Segmentation,
    /// Segment Anything: many randomly coloured instance masks.
    SamMask,
    /// OpenPose body skeletons on black.
    Pose,
    /// MediaPipe face-mesh contours on black.
    Face,
    /// M-LSD: white straight segments on black.
    Mlsd,
    /// Thick free-hand strokes.
    Scribble,
    /// HED / soft edges: blurry gray-white boundaries on black.
    SoftEdge,
    /// Black line drawing on white.
    LineArt,
    /// A QR-code-like module grid.
    QrCode,
    /// A grayscale photo (brightness ControlNet).
    Brightness,
    /// A blurry low-resolution photo (tile ControlNet).
    Tile,
    /// A photo cut into shuffled patches.
    Shuffle,
    /// An ordinary photo (instruct-pix2pix ControlNet edits photos).
    Photo,
}

impl Condition {
    pub const ALL: [Condition; 16] = [
        Condition::Canny,
        Condition::Depth,
        Condition::Normal,
        Condition::Segmentation,
        Condition::SamMask,
        Condition::Pose,
        Condition::Face,
        Condition::Mlsd,
        Condition::Scribble,
        Condition::SoftEdge,
        Condition::LineArt,
        Condition::QrCode,
        Condition::Brightness,
        Condition::Tile,
        Condition::Shuffle,
        Condition::Photo,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Canny => "canny edges",
            Condition::Depth => "depth map",
            Condition::Normal => "normal map",
            Condition::Segmentation => "segmentation map",
            Condition::SamMask => "SAM mask",
            Condition::Pose => "pose skeleton",
            Condition::Face => "face landmarks",
            Condition::Mlsd => "straight lines",
            Condition::Scribble => "scribble",
            Condition::SoftEdge => "soft edges",
            Condition::LineArt => "line art",
            Condition::QrCode => "QR code",
            Condition::Brightness => "grayscale photo",
            Condition::Tile => "blurry low-res photo",
            Condition::Shuffle => "shuffled patches",
            Condition::Photo => "photo",
        }
    }

    /// Whether the render is a photograph (stored as JPEG) rather than a
    /// drawn map with hard edges and flat colours (stored as PNG).
    pub fn is_photographic(self) -> bool {
        matches!(
            self,
            Condition::Brightness | Condition::Tile | Condition::Shuffle | Condition::Photo
        )
    }
}

/// Whether a tool id names a ControlNet or T2I-Adapter.
pub fn is_control_tool(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    id.contains("control") || id.contains("t2i-adapter") || id.contains("t2iadapter")
}

/// The condition a ControlNet-style tool takes, from its id; `None` for
/// other tools and for control tools whose condition is not recognised.
pub fn condition_for_tool(id: &str) -> Option<Condition> {
    if !is_control_tool(id) {
        return None;
    }
    let id = id.to_ascii_lowercase();
    // Order matters: "segment-anything" contains "seg", "openpose" "pose".
    #[rustfmt::skip]
    let rules: [(&[&str], Condition); 16] = [
        (&["segment-anything", "segment_anything"], Condition::SamMask),
        (&["seg"], Condition::Segmentation),
        (&["mediapipeface", "mediapipe_face", "face-landmark"], Condition::Face),
        (&["openpose", "pose", "keypose"], Condition::Pose),
        (&["canny"], Condition::Canny),
        (&["depth", "zoe", "midas"], Condition::Depth),
        (&["normal"], Condition::Normal),
        (&["mlsd"], Condition::Mlsd),
        (&["scribble", "sketch"], Condition::Scribble),
        (&["hed", "softedge", "pidi"], Condition::SoftEdge),
        (&["lineart", "line_art", "line-art"], Condition::LineArt),
        (&["qrcode", "qr_code", "qr-code"], Condition::QrCode),
        (&["brightness", "recolor"], Condition::Brightness),
        (&["tile"], Condition::Tile),
        (&["shuffle"], Condition::Shuffle),
        (&["ip2p", "pix2pix"], Condition::Photo),
    ];
    rules
        .iter()
        .find(|(keys, _)| keys.iter().any(|k| id.contains(k)))
        .map(|(_, c)| *c)
}

/// How a restoration model's input photo is spoiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Degradation {
    /// Downscaled 4-8x, shown small or upscaled blurry; maybe JPEG-damaged.
    LowRes,
    MotionBlur,
    Defocus,
    Haze,
    Rain,
    /// Sensor noise, optionally underexposed.
    Noise,
    /// Heavy JPEG compression.
    Jpeg,
}

impl Degradation {
    pub const ALL: [Degradation; 7] = [
        Degradation::LowRes,
        Degradation::MotionBlur,
        Degradation::Defocus,
        Degradation::Haze,
        Degradation::Rain,
        Degradation::Noise,
        Degradation::Jpeg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Degradation::LowRes => "low-res photo",
            Degradation::MotionBlur => "motion-blurred photo",
            Degradation::Defocus => "out-of-focus photo",
            Degradation::Haze => "hazy photo",
            Degradation::Rain => "rainy photo",
            Degradation::Noise => "noisy photo",
            Degradation::Jpeg => "JPEG-damaged photo",
        }
    }
}

/// Whether a tool restores or enlarges photos: an `image-to-image` card
/// whose id or summary speaks of super-resolution, upscaling, deblurring
/// or restoration.
pub fn is_restoration_tool(card: &ToolCard) -> bool {
    card.task == "image-to-image"
        && !is_control_tool(&card.id)
        && (restores_resolution(card)
            || ["deblur", "dehaz", "derain", "restor", "low-level"]
                .iter()
                .any(|k| card_text(card).contains(k)))
}

fn card_text(card: &ToolCard) -> String {
    format!("{} {}", card.id, card.summary).to_lowercase()
}

/// Super-resolution and upscaling tools (`swin2SR`, `edsr`, `...-sr-x2`).
fn restores_resolution(card: &ToolCard) -> bool {
    let text = card_text(card);
    [
        "super-resolution",
        "super resolution",
        "superresolution",
        "upscal",
    ]
    .iter()
    .any(|k| text.contains(k))
        || words(&card.id).any(|w| w.ends_with("sr"))
}

/// Whether any word of `ws` is one of `keys`; a key ending in `*` is a prefix.
fn any_word(ws: &[String], keys: &[&str]) -> bool {
    ws.iter().any(|w| {
        keys.iter().any(|k| match k.strip_suffix('*') {
            Some(prefix) => w.starts_with(prefix),
            None => w == k,
        })
    })
}

/// The degradation a description shows, if it names one.
pub fn degradation_in(description: &str) -> Option<Degradation> {
    let d = description.to_lowercase();
    let ws: Vec<String> = words(&d).collect();
    let has = |keys: &[&str]| any_word(&ws, keys);
    let phrase = |keys: &[&str]| keys.iter().any(|k| d.contains(k));
    if has(&[
        "rain",
        "rainy",
        "raining",
        "raindrop*",
        "rainfall",
        "rainstorm",
        "downpour",
    ]) {
        Some(Degradation::Rain)
    } else if has(&[
        "haze", "hazy", "fog", "foggy", "smog", "smoggy", "mist", "misty",
    ]) {
        Some(Degradation::Haze)
    } else if has(&["motion", "shake", "shaky", "smear*"]) {
        Some(Degradation::MotionBlur)
    } else if phrase(&["out-of-focus", "out of focus", "soft focus", "defocus"]) {
        Some(Degradation::Defocus)
    } else if has(&[
        "noise",
        "noisy",
        "grain",
        "grainy",
        "iso",
        "underexpos*",
        "dark",
        "dim",
    ]) || phrase(&["low-light", "low light"])
    {
        Some(Degradation::Noise)
    } else if has(&[
        "jpeg",
        "jpg",
        "compressed",
        "compression",
        "artifacts",
        "artefacts",
        "blocky",
    ]) {
        Some(Degradation::Jpeg)
    } else if has(&[
        "pixelated",
        "pixelated",
        "thumbnail",
        "small",
        "tiny",
        "lowres",
    ]) || phrase(&["low-res", "low res"])
        || size_in(description).is_some()
    {
        Some(Degradation::LowRes)
    } else if has(&["blur*"]) {
        Some(Degradation::Defocus)
    } else {
        None
    }
}

/// The degradation a restoration tool's input has: the one its card names
/// (dehazing takes hazy photos), else the description's, else `None`
/// (the caller picks one at random).
pub fn degradation_for(card: &ToolCard, description: Option<&str>) -> Option<Degradation> {
    let text = card_text(card);
    let by_tool = if text.contains("dehaz") {
        Some(Degradation::Haze)
    } else if text.contains("derain") {
        Some(Degradation::Rain)
    } else if text.contains("deblur") {
        Some(Degradation::MotionBlur)
    } else if restores_resolution(card) {
        Some(Degradation::LowRes)
    } else {
        None
    };
    // A general restorer ("low-level image processing") gets what the
    // description shows; a specialised one always its own degradation.
    by_tool.or_else(|| description.and_then(degradation_in))
}

/// Whether a description asks for JPEG damage on top ("a compressed 200x150 JPEG").
pub fn mentions_jpeg(description: &str) -> bool {
    let ws: Vec<String> = words(description).collect();
    any_word(
        &ws,
        &[
            "jpeg",
            "jpg",
            "compressed",
            "compression",
            "artifacts",
            "artefacts",
            "blocky",
        ],
    )
}

/// A `WxH` size in a description ("a 160x120 thumbnail"), for low-res renders.
pub fn size_in(description: &str) -> Option<(u32, u32)> {
    for w in words(description) {
        if let Some((a, b)) = w.split_once('x') {
            if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                if (16..=2048).contains(&a) && (16..=2048).contains(&b) {
                    return Some((a, b));
                }
            }
        }
    }
    None
}

/// Whether a description says the attachment is an ordinary photograph,
/// not a condition map: many ControlNet items describe the photo the user
/// wants converted ("Photo of a sailboat in a harbor").
pub fn describes_photo(description: &str) -> bool {
    let ws: Vec<String> = words(description).collect();
    let map_words = [
        "map*",
        "edge*",
        "mask*",
        "skeleton*",
        "pose*",
        "keypoint*",
        "landmark*",
        "mesh",
        "scribble*",
        "sketch*",
        "line",
        "lines",
        "drawing*",
        "qr",
        "segment*",
        "normal*",
        "depth",
        "hed",
        "outline*",
        "wireframe*",
        "silhouette*",
    ];
    if any_word(&ws, &map_words) {
        return false;
    }
    any_word(
        &ws[..ws.len().min(5)],
        &[
            "photo",
            "photograph",
            "picture",
            "snapshot",
            "selfie",
            "image",
        ],
    )
}

/// The picture a user attaches for a condition tool: usually its condition
/// map, but a photo when the description says so (the tool's preprocessor
/// would make the map), and a QR code when a brightness item describes one.
pub fn attached_condition(tool: Condition, description: Option<&str>) -> Condition {
    let Some(d) = description else {
        return tool;
    };
    let ws: Vec<String> = words(d).collect();
    match tool {
        // Their inputs are photographs already.
        Condition::Brightness | Condition::Tile => {
            if any_word(&ws, &["qr"]) {
                Condition::QrCode
            } else {
                tool
            }
        }
        _ if describes_photo(d) => Condition::Photo,
        _ => tool,
    }
}

/// Whether strokes should be dark on a light ground ("black pen scribble
/// on white paper") rather than the ControlNet default, white on black.
pub fn dark_on_light(description: &str) -> bool {
    let d = description.to_lowercase();
    !d.contains("white-on-black")
        && !d.contains("on black")
        && (d.contains("on white")
            || d.contains("black-on-white")
            || d.contains("paper")
            || d.contains("pen ")
            || d.contains("pencil"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every ControlNet-like id in the ToolMMBench catalog (grep -i control
    /// / t2i), with the condition it takes.
    pub(crate) const CATALOG_CONTROL_IDS: &[(&str, Condition)] = &[
        ("CrucibleAI/ControlNetMediaPipeFace", Condition::Face),
        (
            "DionTimmer/controlnet_qrcode-control_v1p_sd15",
            Condition::QrCode,
        ),
        ("ioclab/control_v1p_sd15_brightness", Condition::Brightness),
        (
            "kandinsky-community/kandinsky-2-2-controlnet-depth",
            Condition::Depth,
        ),
        ("lllyasviel/control_v11e_sd15_ip2p", Condition::Photo),
        ("lllyasviel/control_v11e_sd15_shuffle", Condition::Shuffle),
        ("lllyasviel/control_v11f1e_sd15_tile", Condition::Tile),
        ("lllyasviel/control_v11f1p_sd15_depth", Condition::Depth),
        ("lllyasviel/control_v11p_sd15_canny", Condition::Canny),
        ("lllyasviel/control_v11p_sd15_lineart", Condition::LineArt),
        ("lllyasviel/control_v11p_sd15_mlsd", Condition::Mlsd),
        ("lllyasviel/control_v11p_sd15_normalbae", Condition::Normal),
        ("lllyasviel/control_v11p_sd15_openpose", Condition::Pose),
        ("lllyasviel/control_v11p_sd15_scribble", Condition::Scribble),
        ("lllyasviel/control_v11p_sd15_seg", Condition::Segmentation),
        ("lllyasviel/control_v11p_sd15_softedge", Condition::SoftEdge),
        (
            "lllyasviel/control_v11p_sd15s2_lineart_anime",
            Condition::LineArt,
        ),
        ("lllyasviel/sd-controlnet-canny", Condition::Canny),
        ("lllyasviel/sd-controlnet-depth", Condition::Depth),
        ("lllyasviel/sd-controlnet-hed", Condition::SoftEdge),
        ("lllyasviel/sd-controlnet-mlsd", Condition::Mlsd),
        ("lllyasviel/sd-controlnet-normal", Condition::Normal),
        ("lllyasviel/sd-controlnet-openpose", Condition::Pose),
        ("lllyasviel/sd-controlnet-scribble", Condition::Scribble),
        ("lllyasviel/sd-controlnet-seg", Condition::Segmentation),
        ("mfidabel/controlnet-segment-anything", Condition::SamMask),
        (
            "monster-labs/control_v1p_sd15_qrcode_monster",
            Condition::QrCode,
        ),
        (
            "PAIR/text2video-zero-controlnet-canny-avatar",
            Condition::Canny,
        ),
        ("thibaud/controlnet-sd21-canny-diffusers", Condition::Canny),
        ("thibaud/controlnet-sd21-depth-diffusers", Condition::Depth),
        ("thibaud/controlnet-sd21-hed-diffusers", Condition::SoftEdge),
        (
            "thibaud/controlnet-sd21-normalbae-diffusers",
            Condition::Normal,
        ),
        (
            "thibaud/controlnet-sd21-openposev2-diffusers",
            Condition::Pose,
        ),
    ];

    #[test]
    fn every_catalog_controlnet_maps_to_its_condition() {
        for (id, want) in CATALOG_CONTROL_IDS {
            assert_eq!(condition_for_tool(id), Some(*want), "{id}");
        }
        for id in [
            "stabilityai/stable-diffusion-2-depth",
            "facebook/sam-vit-huge",
            "openai/clip-vit-base-patch32",
            "MIT/ast-finetuned-speech-commands-v2",
            "kandinsky-community/kandinsky-2-2-decoder",
        ] {
            assert_eq!(condition_for_tool(id), None, "{id}");
        }
    }

    /// The same against the real catalog, when it is here: every id that
    /// looks like a control tool must get a condition, and the ones listed
    /// above must still be in it (so the list stays the catalog's).
    #[test]
    fn real_catalog_control_ids_all_map() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/toolmmbench");
        let Ok(catalog) = mmtool_catalog::Catalog::load_dir(&dir) else {
            eprintln!("skipping: no catalog in {}", dir.display());
            return;
        };
        let mut n = 0;
        for card in catalog.cards() {
            if is_control_tool(&card.id) {
                n += 1;
                assert!(
                    condition_for_tool(&card.id).is_some(),
                    "{} has no condition",
                    card.id
                );
            }
        }
        assert!(n >= 30, "only {n} control tools in the catalog");
        for (id, _) in CATALOG_CONTROL_IDS {
            assert!(catalog.contains(id), "{id} is no longer in the catalog");
        }
    }

    fn card(id: &str, task: &str, summary: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: task.into(),
            domain: "cv".into(),
            input_modality: mmtool_data::Modality::Image,
            output_modality: "image".into(),
            languages: vec![],
            summary: summary.into(),
            tags: vec![],
            api_call: "x".into(),
            confidence: "high".into(),
        }
    }

    #[test]
    fn restoration_tools_and_their_degradations() {
        #[rustfmt::skip]
        let cases = [
            ("caidas/swin2SR-classical-sr-x2-64", "Transformer image model", Some(Degradation::LowRes)),
            ("eugenesiow/edsr-base", "Baseline EDSR super-resolution model", Some(Degradation::LowRes)),
            ("stabilityai/stable-diffusion-x4-upscaler", "A text-guided upscaler", Some(Degradation::LowRes)),
            ("google/maxim-s2-dehazing-sots-outdoor", "Image restoration model", Some(Degradation::Haze)),
            ("google/maxim-s2-deraining-rain13k", "restoration: rain streaks", Some(Degradation::Rain)),
            ("google/maxim-s3-deblurring-gopro", "restoration model", Some(Degradation::MotionBlur)),
            ("instruction-tuning-sd/low-level-img-proc", "image restoration from commands", None),
        ];
        let i2i = "image-to-image";
        for (id, summary, want) in cases {
            let c = card(id, i2i, summary);
            assert!(is_restoration_tool(&c), "{id}");
            assert_eq!(degradation_for(&c, None), want, "{id}");
        }
        let general = card(cases[6].0, i2i, cases[6].1);
        assert_eq!(
            degradation_for(
                &general,
                Some("High-ISO indoor photo with heavy color noise")
            ),
            Some(Degradation::Noise)
        );
        for (id, task, summary) in [
            ("timbrooks/instruct-pix2pix", i2i, "edits images"),
            ("lllyasviel/control_v11f1e_sd15_tile", i2i, "upscaling"),
            ("x/sr", "image-classification", "super-resolution"),
        ] {
            assert!(!is_restoration_tool(&card(id, task, summary)), "{id}");
        }
    }

    #[test]
    fn description_cues() {
        assert_eq!(size_in("A 160x120 thumbnail of a street"), Some((160, 120)));
        assert_eq!(size_in("A photo of 3 cats"), None);
        assert_eq!(
            degradation_in("A pixelated 64x64 image"),
            Some(Degradation::LowRes)
        );
        assert_eq!(
            degradation_in("Hazy outdoor photo"),
            Some(Degradation::Haze)
        );
        assert!(describes_photo("Photo of a sailboat in a harbor"));
        assert!(describes_photo(
            "Ordinary daytime photo of a suburban street"
        ));
        assert!(!describes_photo("Canny edge map of a car side profile"));
        assert!(!describes_photo("A photo-like depth map of a room"));
        assert!(describes_photo("Photo of a rocky coastline at dusk"));
        assert_eq!(
            attached_condition(Condition::Canny, Some("Photo of a clock tower")),
            Condition::Photo
        );
        assert_eq!(
            attached_condition(Condition::Canny, Some("Canny edge map of a teapot")),
            Condition::Canny
        );
        assert_eq!(
            attached_condition(
                Condition::Brightness,
                Some("Black-and-white photo of a harbor")
            ),
            Condition::Brightness
        );
        assert_eq!(
            attached_condition(Condition::Brightness, Some("Black-and-white QR code image")),
            Condition::QrCode
        );
        assert_eq!(degradation_in("A photo of a train station"), None);
        assert_eq!(
            degradation_in("Dashcam image on a rainy day"),
            Some(Degradation::Rain)
        );
        assert!(mentions_jpeg("A compressed 200x150 JPEG of a skyline"));
        assert!(!describes_photo(
            "OpenPose skeleton image: colored stick figure"
        ));
        assert!(dark_on_light(
            "Black pen scribble of a house on white paper"
        ));
        assert!(!dark_on_light(
            "Simple white-on-black scribble of a cat sitting"
        ));
    }
}
