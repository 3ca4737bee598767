//! The plan (determinism, caps, held-out photos and sentences) and the
//! written files (loadable, idempotent), on small made-up item sets; plus
//! a check of the plan for the real training files when they are here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mmtool_catalog::{Catalog, ToolCard};
use mmtool_data::{load_items, Item, LoadOptions, Modality};
use mmtool_synth::output::{counts, list_photos, render_media, write_files, EVAL_FILE, TRAIN_FILE};
use mmtool_synth::plan::{ImageSpec, Media};
use mmtool_synth::render::Picture;
use mmtool_synth::speech::Espeak;
use mmtool_synth::{build_plan, load_sources, Plan, PlanOptions, Source, Split};

fn item(id: u64, modality: Modality, path: Option<&str>, desc: Option<&str>, answer: &str) -> Item {
    Item {
        id,
        source_id: None,
        instruction: format!("request {id}"),
        modality,
        media_path: path.map(String::from),
        media_description: desc.map(String::from),
        answers: vec![answer.to_string()],
        ambiguity: -1,
        one_to_many: false,
    }
}

fn card(id: &str, task: &str, summary: &str) -> ToolCard {
    ToolCard {
        id: id.into(),
        task: task.into(),
        domain: "x".into(),
        input_modality: Modality::Image,
        output_modality: "image".into(),
        languages: vec![],
        summary: summary.into(),
        tags: vec![],
        api_call: "x".into(),
        confidence: "high".into(),
    }
}

fn catalog() -> Catalog {
    Catalog::from_cards(vec![
        card("lllyasviel/sd-controlnet-canny", "image-to-image", "canny"),
        card("lllyasviel/sd-controlnet-depth", "image-to-image", "depth"),
        card(
            "lllyasviel/sd-controlnet-openpose",
            "image-to-image",
            "pose",
        ),
        card(
            "eugenesiow/edsr-base",
            "image-to-image",
            "EDSR super-resolution",
        ),
        card(
            "google/maxim-s2-dehazing-sots-outdoor",
            "image-to-image",
            "restoration",
        ),
        card(
            "google/vit-base-patch16-224",
            "image-classification",
            "classifies",
        ),
        card("facebook/detr-resnet-50", "object-detection", "detects"),
        card(
            "openai/whisper-large-v2",
            "automatic-speech-recognition",
            "asr",
        ),
        card("facebook/mms-1b-all", "automatic-speech-recognition", "asr"),
        card(
            "MIT/ast-finetuned-audioset-10-10-0.4593",
            "audio-classification",
            "ast",
        ),
    ])
    .unwrap()
}

/// 60 audio and 150 image items over a few tools, in both source files.
fn sources() -> Vec<Source> {
    let mut out = Vec::new();
    let mut id = 0;
    let mut push = |file: &str, it: Item| {
        out.push(Source {
            file: file.into(),
            item: it,
        })
    };
    let folders = [
        "germanphrases/a_de.wav",
        "common_voice_vi/vi1.wav",
        "greekphrases/b.wav",
        "audio_dataset/x.wav",
    ];
    for i in 0..40 {
        id += 1;
        let tool = ["openai/whisper-large-v2", "facebook/mms-1b-all"][i % 2];
        push(
            "train_audio.json",
            item(id, Modality::Audio, Some(folders[i % 4]), None, tool),
        );
    }
    let descs = [
        "A voice note of a woman speaking Mandarin",
        "Lecture recording in Persian",
        "A French and English bilingual announcement",
        "A dog barking",
    ];
    for i in 0..20 {
        id += 1;
        push(
            "train_synth.json",
            item(
                id,
                Modality::Audio,
                None,
                Some(descs[i % 4]),
                "openai/whisper-large-v2",
            ),
        );
    }
    let image_tools = [
        (
            "lllyasviel/sd-controlnet-canny",
            "Canny edge map of a house",
        ),
        ("lllyasviel/sd-controlnet-depth", "Depth map of a room"),
        (
            "lllyasviel/sd-controlnet-openpose",
            "OpenPose skeleton of a dancer",
        ),
        ("eugenesiow/edsr-base", "A 160x120 thumbnail of a street"),
        (
            "google/maxim-s2-dehazing-sots-outdoor",
            "Hazy photo of a city",
        ),
        ("google/vit-base-patch16-224", "Photo of a cat"),
        ("facebook/detr-resnet-50", "Photo of a street with cars"),
    ];
    for i in 0..154 {
        id += 1;
        let (tool, desc) = image_tools[i % image_tools.len()];
        push(
            "train_synth.json",
            item(id, Modality::Image, None, Some(desc), tool),
        );
    }
    id += 1;
    push(
        "train_synth.json",
        item(
            id,
            Modality::Text,
            None,
            None,
            "google/vit-base-patch16-224",
        ),
    );
    out
}

fn photos() -> Vec<String> {
    (0..8).map(|i| format!("photo{i}.png")).collect()
}

fn opts() -> PlanOptions {
    PlanOptions {
        seed: 11,
        max_speech: 30,
        max_images: 60,
        max_plain: 10,
        max_per_tool: 9,
        eval_share: 0.2,
        eval_photo_share: 0.25,
    }
}

fn plan(o: &PlanOptions) -> Plan {
    build_plan(&sources(), &catalog(), &photos(), o).unwrap()
}

#[test]
fn plan_is_deterministic_for_a_seed() {
    let a = plan(&opts());
    let b = plan(&opts());
    assert_eq!(a.entries, b.entries);
    assert_eq!(a.eval_photos, b.eval_photos);
    let c = plan(&PlanOptions { seed: 12, ..opts() });
    assert_ne!(a.entries, c.entries, "another seed, another plan");
    // Photo order in the input does not matter.
    let mut reversed = photos();
    reversed.reverse();
    let d = build_plan(&sources(), &catalog(), &reversed, &opts()).unwrap();
    assert_eq!(a.entries, d.entries);
}

#[test]
fn plan_respects_caps_and_balances_answers() {
    let o = opts();
    let p = plan(&o);
    let speech = p
        .entries
        .iter()
        .filter(|e| matches!(e.media, Media::Speech(_)))
        .count();
    let images = p.entries.len() - speech;
    assert_eq!(speech, 18, "2 tools x 9, the per-tool cap");
    assert!(images <= o.max_images, "{images}");
    let plain = p.entries.iter().filter(|e| e.kind() == "photo").count();
    assert!(plain <= o.max_plain && plain > 0, "{plain} plain photos");
    let mut per_tool: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    for e in &p.entries {
        let is_speech = matches!(e.media, Media::Speech(_));
        *per_tool
            .entry((e.item.answers[0].as_str(), is_speech))
            .or_default() += 1;
    }
    for (tool, n) in &per_tool {
        assert!(*n <= o.max_per_tool, "{tool:?}: {n}");
    }
    // Every special tool gets the same share (9 each: 5 tools, a budget of 50).
    for t in [
        "lllyasviel/sd-controlnet-canny",
        "eugenesiow/edsr-base",
        "lllyasviel/sd-controlnet-openpose",
    ] {
        assert_eq!(per_tool[&(t, false)], 9, "{t}");
    }
    // A tighter budget still serves every answer.
    let small = plan(&PlanOptions {
        max_images: 20,
        max_speech: 4,
        ..o.clone()
    });
    let tools: BTreeSet<&str> = small
        .entries
        .iter()
        .map(|e| e.item.answers[0].as_str())
        .collect();
    assert!(tools.len() >= 6, "{tools:?}");
    assert_eq!(
        small
            .entries
            .iter()
            .filter(|e| e.kind() == "speech")
            .count(),
        4
    );
    // Ids unique, paths unique.
    let ids: BTreeSet<u64> = p.entries.iter().map(|e| e.id).collect();
    let paths: BTreeSet<&str> = p.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(ids.len(), p.entries.len());
    assert_eq!(paths.len(), p.entries.len());
}

#[test]
fn languages_and_pictures_follow_the_items() {
    let p = plan(&PlanOptions {
        max_speech: 100,
        max_per_tool: 100,
        ..opts()
    });
    let langs: BTreeSet<&str> = p
        .entries
        .iter()
        .filter_map(|e| e.language())
        .map(|l| l.code)
        .collect();
    assert_eq!(langs, ["de", "el", "fa", "vi", "zh"].into_iter().collect());
    for e in &p.entries {
        let desc = e.item.media_description.as_deref().unwrap_or("");
        match &e.media {
            Media::Speech(s) => {
                assert!(
                    !desc.contains("bilingual") && !desc.contains("dog"),
                    "{desc}"
                );
                if desc.contains("woman") {
                    assert!(s.voice.contains("+f"), "{}", s.voice);
                }
                assert!((140..=180).contains(&s.speed) && (30..=70).contains(&s.pitch));
            }
            Media::Image(ImageSpec { picture, .. }) => {
                let tool = e.item.answers[0].as_str();
                let want = match tool {
                    "lllyasviel/sd-controlnet-canny" => "condition: canny edges",
                    "lllyasviel/sd-controlnet-depth" => "condition: depth map",
                    "lllyasviel/sd-controlnet-openpose" => "condition: pose skeleton",
                    "eugenesiow/edsr-base" => "degraded: low-res photo",
                    "google/maxim-s2-dehazing-sots-outdoor" => "degraded: hazy photo",
                    _ => "photo",
                };
                assert_eq!(e.kind(), want, "{tool}");
                if let Picture::Degraded { small, .. } = picture {
                    if tool == "eugenesiow/edsr-base" {
                        assert_eq!(*small, Some((160, 120)));
                    }
                }
            }
        }
    }
}

#[test]
fn eval_items_never_share_photos_or_sentences_with_train() {
    for seed in 0..5 {
        let p = plan(&PlanOptions { seed, ..opts() });
        let eval: Vec<_> = p
            .entries
            .iter()
            .filter(|e| e.split == Split::Eval)
            .collect();
        let share = eval.len() as f64 / p.entries.len() as f64;
        assert!((0.12..0.28).contains(&share), "eval share {share}");
        assert_eq!(p.eval_photos.len(), 2, "25 % of 8 photos");
        let (mut train_photos, mut eval_photos) = (BTreeSet::new(), BTreeSet::new());
        let (mut train_sents, mut eval_sents) = (BTreeSet::new(), BTreeSet::new());
        for e in &p.entries {
            let (photos, sents) = match e.split {
                Split::Train => (&mut train_photos, &mut train_sents),
                Split::Eval => (&mut eval_photos, &mut eval_sents),
            };
            match &e.media {
                Media::Image(s) => {
                    photos.insert(s.photo.clone());
                }
                Media::Speech(s) => {
                    sents.insert(s.text());
                }
            }
        }
        assert!(train_photos.is_disjoint(&eval_photos), "seed {seed}");
        assert!(train_sents.is_disjoint(&eval_sents), "seed {seed}");
        assert!(
            !eval_photos.is_empty() && !eval_sents.is_empty(),
            "seed {seed}"
        );
        assert!(eval_photos.iter().all(|ph| p.eval_photos.contains(ph)));
        // Stratified: every tool with 5+ items has some in eval.
        let mut per_tool: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for e in &p.entries {
            let slot = per_tool.entry(e.item.answers[0].as_str()).or_default();
            if e.split == Split::Eval {
                slot.1 += 1
            } else {
                slot.0 += 1
            }
        }
        for (tool, (t, e)) in per_tool {
            if t + e >= 9 {
                assert!(e >= 1 && t >= 6, "{tool}: train {t} eval {e}");
            }
        }
    }
}

#[test]
fn test_json_is_refused() {
    let mut s = sources();
    s[0].file = "test.json".into();
    let err = build_plan(&s, &catalog(), &photos(), &opts()).unwrap_err();
    assert!(err.to_string().contains("test.json"));
}

fn write_photos(dir: &Path) {
    for (i, name) in photos().iter().enumerate() {
        let img = image::RgbImage::from_fn(200 + 10 * i as u32, 150, |x, y| {
            image::Rgb([
                (x * 3 % 256) as u8,
                (y * 5 % 256) as u8,
                ((x + y + i as u32 * 40) % 256) as u8,
            ])
        });
        img.save(dir.join(name)).unwrap();
    }
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["", "audio", "image"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn written_files_load_and_reruns_are_idempotent() {
    let tmp = tempfile::tempdir().unwrap();
    let (photo_dir, out) = (tmp.path().join("photos"), tmp.path().join("out"));
    std::fs::create_dir_all(&photo_dir).unwrap();
    write_photos(&photo_dir);
    let names = list_photos(&photo_dir).unwrap();
    let espeak = Espeak::default();
    let have_espeak = espeak.version().is_ok();
    if !have_espeak {
        eprintln!("espeak-ng is not installed: testing images only");
    }
    let o = PlanOptions {
        max_speech: if have_espeak { 6 } else { 0 },
        max_images: 14,
        max_plain: 3,
        max_per_tool: 2,
        ..opts()
    };
    let p = build_plan(&sources(), &catalog(), &names, &o).unwrap();
    let ticks = std::sync::atomic::AtomicUsize::new(0);
    let tick = || {
        ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    let report = render_media(&p, &photo_dir, &out, false, &espeak, &tick).unwrap();
    assert_eq!(report.rendered, p.entries.len());
    assert_eq!(ticks.into_inner(), p.entries.len());
    let written = write_files(&p, &out, report.espeak_version.as_deref()).unwrap();
    assert_eq!(written.len(), 3);

    let train = load_items(&out.join(TRAIN_FILE), LoadOptions::default()).unwrap();
    let eval = load_items(&out.join(EVAL_FILE), LoadOptions::default()).unwrap();
    assert_eq!(train.len() + eval.len(), p.entries.len());
    assert!(!eval.is_empty());
    let c = counts(&p);
    assert_eq!((c.train, c.eval), (train.len(), eval.len()));
    for it in train.iter().chain(&eval) {
        let path = it
            .media_path
            .as_deref()
            .expect("every item has its media path");
        let bytes = std::fs::read(out.join(path)).unwrap();
        let e = p.entries.iter().find(|e| e.id == it.id).unwrap();
        assert_eq!(it.instruction, e.item.instruction);
        assert_eq!(it.answers, e.item.answers);
        assert_eq!(it.media_description, e.item.media_description);
        match it.modality {
            Modality::Audio => {
                let info = mmtool_synth::speech::wav_info(&bytes).unwrap();
                assert!(info.frames > 0);
            }
            Modality::Image => {
                image::load_from_memory(&bytes).unwrap();
            }
            m => panic!("unexpected modality {m}"),
        }
    }
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join(TRAIN_FILE)).unwrap()).unwrap();
    assert!(raw[0]["synth"].as_str().is_some_and(|s| !s.is_empty()));

    // Same plan again: nothing re-rendered, every byte the same.
    let before = snapshot(&out);
    let again = build_plan(&sources(), &catalog(), &names, &o).unwrap();
    let report = render_media(&again, &photo_dir, &out, false, &espeak, &|| {}).unwrap();
    assert_eq!((report.rendered, report.kept), (0, again.entries.len()));
    write_files(&again, &out, report.espeak_version.as_deref()).unwrap();
    assert_eq!(snapshot(&out), before);
    // --force renders everything again, to the same bytes.
    let report = render_media(&again, &photo_dir, &out, true, &espeak, &|| {}).unwrap();
    assert_eq!(report.rendered, again.entries.len());
    assert_eq!(snapshot(&out), before);
    // Another seed: files of the old plan are removed, others outside our pattern kept.
    std::fs::write(out.join("image/notes.txt"), b"mine").unwrap();
    let other = build_plan(
        &sources(),
        &catalog(),
        &names,
        &PlanOptions { seed: 99, ..o },
    )
    .unwrap();
    let report = render_media(&other, &photo_dir, &out, false, &espeak, &|| {}).unwrap();
    assert!(report.removed > 0);
    assert!(out.join("image/notes.txt").exists());
    let files = std::fs::read_dir(out.join("image")).unwrap().count()
        + std::fs::read_dir(out.join("audio")).unwrap().count();
    assert_eq!(files, other.entries.len() + 1);
}

/// The real training files, when they are here: every condition kind the
/// catalog's ControlNets take appears, and the caps hold.
#[test]
fn real_training_files_plan() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/toolmmbench");
    if !dir.join("train_synth.json").exists() {
        eprintln!("skipping: no ToolMMBench data in {}", dir.display());
        return;
    }
    let sources = load_sources(&dir).unwrap();
    let catalog = Catalog::load_dir(&dir).unwrap();
    let photos: Vec<String> = (0..19).map(|i| format!("p{i}.png")).collect();
    let o = PlanOptions::default();
    let p = build_plan(&sources, &catalog, &photos, &o).unwrap();
    let c = counts(&p);
    let speech = c.by_kind.get("speech").map_or(0, |(t, e)| t + e);
    assert_eq!(speech, o.max_speech);
    assert!(c.total - speech <= o.max_images);
    assert!(c.by_language.len() >= 20, "{:?}", c.by_language);
    let kinds: BTreeSet<&str> = c.by_kind.keys().map(String::as_str).collect();
    for k in [
        "condition: canny edges",
        "condition: depth map",
        "condition: normal map",
        "condition: segmentation map",
        "condition: SAM mask",
        "condition: pose skeleton",
        "condition: face landmarks",
        "condition: straight lines",
        "condition: scribble",
        "condition: soft edges",
        "condition: line art",
        "condition: grayscale photo",
        "condition: blurry low-res photo",
        "degraded: low-res photo",
        "degraded: hazy photo",
        "degraded: rainy photo",
        "degraded: motion-blurred photo",
        "photo",
    ] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
    let eval = c.eval as f64 / c.total as f64;
    assert!((0.1..0.14).contains(&eval), "eval share {eval}");
}
