//! Image renders: each kind of attachment drawn from a base photograph (or
//! from nothing, for pose skeletons, face meshes, line maps and QR codes) so
//! that it looks like what a user would give that tool. Every random choice
//! comes from the render's seed.

use std::f32::consts::PI;
use std::io::Cursor;

use anyhow::{Context, Result};
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::draw::{canny, dilate, disc, line, polyline, to_u8, Plane};
use crate::kind::{Condition, Degradation};

/// What to draw.
#[derive(Debug, Clone, PartialEq)]
pub enum Picture {
    Condition {
        condition: Condition,
        /// Strokes dark on light (scribbles on paper) instead of light on dark.
        dark_on_light: bool,
    },
    Degraded {
        degradation: Degradation,
        /// Size of the small picture, when the description gives one.
        small: Option<(u32, u32)>,
        /// Heavy JPEG compression on top.
        jpeg: bool,
    },
    /// The photo as it is (a crop).
    Photo,
}

impl Picture {
    /// Photographs are stored as JPEG, maps with hard edges and flat
    /// colours as PNG (JPEG would smear their lines).
    pub fn extension(&self) -> &'static str {
        match self {
            Picture::Condition { condition, .. } if !condition.is_photographic() => "png",
            _ => "jpg",
        }
    }

    /// Whether the render shows the base photo (else it is drawn from the seed alone).
    pub fn uses_photo(&self) -> bool {
        !matches!(
            self,
            Picture::Condition {
                condition: Condition::Pose | Condition::Face | Condition::Mlsd | Condition::QrCode,
                ..
            }
        )
    }

    /// Short name for summaries: "canny edges", "hazy photo", "photo".
    pub fn name(&self) -> &'static str {
        match self {
            Picture::Condition { condition, .. } => condition.name(),
            Picture::Degraded { degradation, .. } => degradation.name(),
            Picture::Photo => "photo",
        }
    }
}

/// A rendered picture and the JPEG quality to store it at (PNG ignores it).
pub struct Rendered {
    pub image: RgbImage,
    pub jpeg_quality: u8,
}

impl Rendered {
    fn photo(image: RgbImage) -> Rendered {
        Rendered {
            image,
            jpeg_quality: 90,
        }
    }

    /// Encodes as `ext` ("png" or "jpg").
    pub fn encode(&self, ext: &str) -> Result<Vec<u8>> {
        let mut buf = Cursor::new(Vec::new());
        if ext == "png" {
            self.image
                .write_to(&mut buf, image::ImageFormat::Png)
                .context("encoding PNG")?;
        } else {
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, self.jpeg_quality)
                .encode_image(&self.image)
                .context("encoding JPEG")?;
        }
        Ok(buf.into_inner())
    }
}

/// Renders `picture` at `w`x`h` (a low-res picture shown small is smaller)
/// from `photo`, with every random choice taken from `seed`.
pub fn render(picture: &Picture, photo: &RgbImage, w: u32, h: u32, seed: u64) -> Rendered {
    let rng = &mut ChaCha8Rng::seed_from_u64(seed);
    match picture {
        Picture::Photo => Rendered::photo(photo_view(photo, w, h, rng)),
        Picture::Condition {
            condition,
            dark_on_light,
        } => {
            let image = match condition {
                Condition::Pose => pose(w, h, rng),
                Condition::Face => face_mesh(w, h, rng),
                Condition::Mlsd => straight_lines(w, h, rng),
                Condition::QrCode => qr_code(w, h, rng),
                c => {
                    let v = photo_view(photo, w, h, rng);
                    match c {
                        Condition::Canny => canny_edges(&v, rng),
                        Condition::Depth => depth(&v, rng),
                        Condition::Normal => normal_map(&v, rng),
                        Condition::Segmentation => segmentation(&v, rng),
                        Condition::SamMask => sam_masks(&v, rng),
                        Condition::Scribble => scribble(&v, *dark_on_light, rng),
                        Condition::SoftEdge => soft_edges(&v, rng),
                        Condition::LineArt => line_art(&v, rng),
                        Condition::Brightness => grayscale(&v, rng),
                        Condition::Tile => low_res(&v, rng.random_range(4..=8)),
                        Condition::Shuffle => shuffled(&v, rng),
                        _ => v,
                    }
                }
            };
            Rendered::photo(image)
        }
        Picture::Degraded {
            degradation,
            small,
            jpeg,
        } => {
            let v = photo_view(photo, w, h, rng);
            let (image, mut quality) = degrade(&v, *degradation, *small, rng);
            if *jpeg {
                quality = quality.min(rng.random_range(15..=40));
            }
            Rendered {
                image,
                jpeg_quality: quality,
            }
        }
    }
}

/// A random crop of `photo` with the aspect of `w`x`h` (55-100 % of the
/// largest such crop), mirrored half the time, resized to `w`x`h`.
pub fn photo_view(photo: &RgbImage, w: u32, h: u32, rng: &mut impl Rng) -> RgbImage {
    let (pw, ph) = photo.dimensions();
    let aspect = w as f32 / h as f32;
    let (cw, ch) = if pw as f32 / ph as f32 > aspect {
        ((ph as f32 * aspect) as u32, ph)
    } else {
        (pw, (pw as f32 / aspect) as u32)
    };
    let s: f32 = rng.random_range(0.55..=1.0);
    let (cw, ch) = (
        ((cw as f32 * s) as u32).clamp(1, pw),
        ((ch as f32 * s) as u32).clamp(1, ph),
    );
    let x = rng.random_range(0..=pw - cw);
    let y = rng.random_range(0..=ph - ch);
    let crop = imageops::crop_imm(photo, x, y, cw, ch).to_image();
    let mut view = imageops::resize(&crop, w, h, FilterType::Triangle);
    if rng.random_bool(0.5) {
        imageops::flip_horizontal_in_place(&mut view);
    }
    view
}

fn scale(w: u32, h: u32) -> f32 {
    w.min(h) as f32 / 512.0
}

fn mask_image(mask: &[bool], w: u32, h: u32, on: [u8; 3], off: [u8; 3]) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb(if mask[(y * w + x) as usize] { on } else { off })
    })
}

/// Thin white Canny edges on black, as the canny preprocessor makes them.
fn canny_edges(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let sigma = rng.random_range(0.8..1.6) * scale(v.width(), v.height()).max(0.5);
    let e = canny(&Plane::luma(v), sigma, rng.random_range(0.82..0.92), 0.4);
    mask_image(&e, v.width(), v.height(), [255; 3], [0; 3])
}

/// HED/PiDiNet-like soft boundaries: blurred gradient magnitude at two scales.
fn soft_edges(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let g = Plane::luma(v);
    let s = rng.random_range(1.0..2.0) * scale(v.width(), v.height()).max(0.5);
    let magnitude = |sigma: f32| {
        let (gx, gy) = g.blur(sigma).sobel();
        gx.zip(&gy, |a, b| (a * a + b * b).sqrt())
    };
    let m = magnitude(s).zip(&magnitude(s * 2.5), |a, b| a + 0.7 * b);
    let top = m.quantile(0.985).max(1e-4);
    let gamma = rng.random_range(0.6..0.9);
    m.map(|x| (x / top).min(1.0).powf(gamma))
        .blur(rng.random_range(0.8..1.5))
        .to_rgb()
}

/// Dark line drawing on white, from Canny edges thickened a little and softened.
fn line_art(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = (v.width() as usize, v.height() as usize);
    let e = canny(
        &Plane::luma(v),
        rng.random_range(0.9..1.5),
        rng.random_range(0.84..0.9),
        0.4,
    );
    let e = dilate(&e, w, h, rng.random_range(0..=1));
    let ink = Plane {
        w,
        h,
        px: e.iter().map(|&b| if b { 1.0 } else { 0.0 }).collect(),
    }
    .blur(0.6);
    ink.map(|i| 1.0 - 0.95 * (i * 1.6).min(1.0)).to_rgb()
}

/// Thick strokes along the main outlines plus a few free-hand squiggles.
fn scribble(v: &RgbImage, dark_on_light: bool, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = (v.width() as usize, v.height() as usize);
    let sc = scale(v.width(), v.height());
    let e = canny(
        &Plane::luma(v),
        rng.random_range(2.5..4.0) * sc.max(0.5),
        rng.random_range(0.9..0.95),
        0.5,
    );
    let thick = rng.random_range(2..=4);
    let e = dilate(&e, w, h, thick);
    let (ink, paper) = if dark_on_light {
        ([20, 20, 20], [250, 250, 250])
    } else {
        ([255; 3], [0; 3])
    };
    let mut img = mask_image(&e, v.width(), v.height(), ink, paper);
    for _ in 0..rng.random_range(1..=3) {
        let mut p = (
            rng.random_range(0.1..0.9) * w as f32,
            rng.random_range(0.1..0.9) * h as f32,
        );
        let mut heading = rng.random_range(0.0..2.0 * PI);
        for _ in 0..rng.random_range(15..45) {
            heading += rng.random_range(-0.5..0.5);
            let step = rng.random_range(4.0..10.0) * sc;
            let q = (p.0 + step * heading.cos(), p.1 + step * heading.sin());
            line(&mut img, p, q, 2.0 * thick as f32 + 1.0, ink, 1.0);
            p = q;
        }
    }
    img
}

/// A plausible monocular depth map: near (bottom, bright) to far (top,
/// dark), shaped by the blurred luminance and a foreground blob.
fn depth(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = (v.width() as usize, v.height() as usize);
    let sc = scale(v.width(), v.height());
    let lum = Plane::luma(v)
        .blur(rng.random_range(3.0..8.0) * sc)
        .normalized();
    let (cx, cy) = (rng.random_range(0.25..0.75), rng.random_range(0.4..0.8));
    let spread = rng.random_range(0.18..0.35);
    let (a, b, c) = (
        rng.random_range(0.4..0.7),
        rng.random_range(0.2..0.45),
        rng.random_range(0.0..0.35),
    );
    let ramp_gamma = rng.random_range(0.7..1.6);
    let d = Plane::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
        let blob = (-((fx - cx).powi(2) + (fy - cy).powi(2)) / (2.0 * spread * spread)).exp();
        a * fy.powf(ramp_gamma) + b * lum.px[y * w + x] + c * blob
    });
    let gamma = rng.random_range(0.8..1.3);
    d.normalized()
        .blur(2.0 * sc)
        .map(|x| x.powf(gamma))
        .to_rgb()
}

/// Surface normals of a height field (blurred luminance), coloured the
/// usual way: x to red, y to green, z to blue, so flat areas are lavender-blue.
fn normal_map(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let sc = scale(v.width(), v.height());
    let height = Plane::luma(v).blur(rng.random_range(2.0..4.5) * sc.max(0.5));
    let (gx, gy) = height.sobel();
    let k = rng.random_range(8.0..20.0);
    RgbImage::from_fn(v.width(), v.height(), |x, y| {
        let i = (y * v.width() + x) as usize;
        let (nx, ny) = (-gx.px[i] * k, -gy.px[i] * k);
        let len = (nx * nx + ny * ny + 1.0).sqrt();
        Rgb([
            to_u8(0.5 + 0.5 * nx / len),
            to_u8(0.5 + 0.5 * ny / len),
            to_u8(0.5 + 0.5 / len),
        ])
    })
}

/// The first colours of the ADE20K palette (wall, building, sky, floor,
/// tree, ...), which the seg ControlNets were trained on.
#[rustfmt::skip]
const ADE20K: [[u8; 3]; 30] = [
    [120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3],
    [120, 120, 80], [140, 140, 140], [204, 5, 255], [230, 230, 230], [4, 250, 7],
    [224, 5, 255], [235, 255, 7], [150, 5, 61], [120, 120, 70], [8, 255, 51],
    [255, 6, 82], [143, 255, 140], [204, 255, 4], [255, 51, 7], [204, 70, 3],
    [0, 102, 200], [61, 230, 250], [255, 6, 51], [11, 102, 255], [255, 7, 71],
    [255, 9, 224], [9, 7, 230], [220, 220, 220], [255, 9, 92], [112, 9, 255],
];

/// Flat class regions: the blurred photo's colours clustered (k-means),
/// cleaned with a majority filter, each cluster one ADE20K class colour.
fn segmentation(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let k = rng.random_range(4..=8);
    let labels = regions(v, k, rng.random_range(2.0..4.0), 3, rng);
    let mut palette = ADE20K.to_vec();
    palette.shuffle(rng);
    RgbImage::from_fn(v.width(), v.height(), |x, y| {
        Rgb(palette[labels[(y * v.width() + x) as usize] as usize])
    })
}

/// Segment-Anything-style masks: every connected region its own random
/// bright colour; specks too small for a mask stay black.
fn sam_masks(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = (v.width() as usize, v.height() as usize);
    let k = rng.random_range(8..=12);
    let labels = regions(v, k, rng.random_range(1.0..2.5), 2, rng);
    let (comp, sizes) = components(&labels, w, h);
    let min_area = (w * h) / 700;
    let colours: Vec<[u8; 3]> = sizes
        .iter()
        .map(|&n| {
            if n < min_area {
                [0, 0, 0]
            } else {
                hsv(
                    rng.random_range(0.0..1.0),
                    rng.random_range(0.45..1.0),
                    rng.random_range(0.6..1.0),
                )
            }
        })
        .collect();
    RgbImage::from_fn(v.width(), v.height(), |x, y| {
        Rgb(colours[comp[y as usize * w + x as usize] as usize])
    })
}

/// Cluster labels (k-means on colour) of a blurred image, majority-filtered.
fn regions(v: &RgbImage, k: usize, sigma: f32, radius: usize, rng: &mut impl Rng) -> Vec<u8> {
    let blurred = imageops::blur(v, sigma * scale(v.width(), v.height()).max(0.5));
    let px: Vec<[f32; 3]> = blurred
        .pixels()
        .map(|p| [p[0] as f32, p[1] as f32, p[2] as f32])
        .collect();
    let nearest = |c: &[[f32; 3]], p: &[f32; 3]| {
        (0..c.len())
            .min_by(|&a, &b| dist2(&c[a], p).total_cmp(&dist2(&c[b], p)))
            .unwrap_or(0)
    };
    let sample: Vec<&[f32; 3]> = px.iter().step_by(7).collect();
    let mut centres: Vec<[f32; 3]> = (0..k)
        .map(|_| *sample[rng.random_range(0..sample.len())])
        .collect();
    for _ in 0..8 {
        let mut sums = vec![[0f32; 4]; k];
        for p in &sample {
            let c = nearest(&centres, p);
            for j in 0..3 {
                sums[c][j] += p[j];
            }
            sums[c][3] += 1.0;
        }
        for (c, s) in centres.iter_mut().zip(&sums) {
            if s[3] > 0.0 {
                *c = [s[0] / s[3], s[1] / s[3], s[2] / s[3]];
            }
        }
    }
    let labels: Vec<u8> = px.iter().map(|p| nearest(&centres, p) as u8).collect();
    majority(&labels, v.width() as usize, v.height() as usize, k, radius)
}

fn dist2(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3).map(|i| (a[i] - b[i]).powi(2)).sum()
}

/// Each label replaced by the most common label in its (2r+1)² window.
fn majority(labels: &[u8], w: usize, h: usize, k: usize, r: usize) -> Vec<u8> {
    let mut out = vec![0u8; w * h];
    let mut counts = vec![0u32; k];
    for y in 0..h {
        for x in 0..w {
            counts.iter_mut().for_each(|c| *c = 0);
            for yy in y.saturating_sub(r)..(y + r + 1).min(h) {
                for xx in x.saturating_sub(r)..(x + r + 1).min(w) {
                    counts[labels[yy * w + xx] as usize] += 1;
                }
            }
            let best = (0..k).max_by_key(|&i| (counts[i], k - i)).unwrap_or(0);
            out[y * w + x] = best as u8;
        }
    }
    out
}

/// 4-connected components of equal labels: (component of each pixel, sizes).
fn components(labels: &[u8], w: usize, h: usize) -> (Vec<u32>, Vec<usize>) {
    let mut comp = vec![u32::MAX; w * h];
    let mut sizes = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if comp[start] != u32::MAX {
            continue;
        }
        let id = sizes.len() as u32;
        let mut n = 0;
        comp[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if comp[j] == u32::MAX && labels[j] == labels[start] {
                    comp[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        sizes.push(n);
    }
    (comp, sizes)
}

fn hsv(h: f32, s: f32, v: f32) -> [u8; 3] {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    [to_u8(r), to_u8(g), to_u8(b)]
}

/// OpenPose's 18 keypoint colours and its 17 limbs (keypoint pairs).
#[rustfmt::skip]
const POSE_COLOURS: [[u8; 3]; 18] = [
    [255, 0, 0], [255, 85, 0], [255, 170, 0], [255, 255, 0], [170, 255, 0], [85, 255, 0],
    [0, 255, 0], [0, 255, 85], [0, 255, 170], [0, 255, 255], [0, 170, 255], [0, 85, 255],
    [0, 0, 255], [85, 0, 255], [170, 0, 255], [255, 0, 255], [255, 0, 170], [255, 0, 85],
];
#[rustfmt::skip]
const LIMBS: [(usize, usize); 17] = [
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
];

/// One to three OpenPose body skeletons in random poses on black.
fn pose(w: u32, h: u32, rng: &mut impl Rng) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let sc = scale(w, h);
    let people = [1, 1, 1, 2, 2, 3][rng.random_range(0..6)];
    for _ in 0..people {
        let height = h as f32 * rng.random_range(0.45..0.9) / (people as f32).sqrt();
        let neck = (
            rng.random_range(0.15..0.85) * w as f32,
            rng.random_range(0.03..0.2) * h as f32 + 0.2 * height,
        );
        let kp = skeleton(rng).map(|p| p.map(|(x, y)| (neck.0 + x * height, neck.1 + y * height)));
        let inside = |p: &Option<(f32, f32)>| {
            p.filter(|&(x, y)| x >= 0.0 && y >= 0.0 && x < w as f32 && y < h as f32)
        };
        for (i, &(a, b)) in LIMBS.iter().enumerate() {
            if let (Some(pa), Some(pb)) = (inside(&kp[a]), inside(&kp[b])) {
                line(&mut img, pa, pb, 8.0 * sc, POSE_COLOURS[i], 0.6);
            }
        }
        for (i, p) in kp.iter().enumerate() {
            if let Some(p) = inside(p) {
                disc(&mut img, p, 4.0 * sc, POSE_COLOURS[i]);
            }
        }
    }
    img
}

/// The 18 OpenPose keypoints of a random pose, in body heights relative to
/// the neck (y down; the person's right side on the image's left). Hidden
/// keypoints (the far ear of a turned head) are `None`.
fn skeleton(rng: &mut impl Rng) -> [Option<(f32, f32)>; 18] {
    let turn = rng.random_range(-1.0f32..1.0);
    let squash = rng.random_range(0.65..1.0);
    let lean = rng.random_range(-0.2f32..0.2);
    let mut p = [(0.0f32, 0.0f32); 18];
    p[0] = (turn * 0.03, -0.1);
    p[14] = (-0.025 + turn * 0.03, -0.125);
    p[15] = (0.025 + turn * 0.03, -0.125);
    p[16] = (-0.055, -0.11);
    p[17] = (0.055, -0.11);
    p[2] = (-0.11, 0.0);
    p[5] = (0.11, 0.0);
    p[8] = (-0.065, 0.32);
    p[11] = (0.065, 0.32);
    // Limb angles from straight down, outwards positive; one side mirrored.
    for (side, shoulder, hip) in [(-1.0f32, 2usize, 8usize), (1.0, 5, 11)] {
        let a1: f32 = rng.random_range(-0.3..2.8);
        let a2: f32 = a1 + rng.random_range(-0.3..2.0);
        let s = p[shoulder];
        let elbow = (s.0 + side * 0.17 * a1.sin(), s.1 + 0.17 * a1.cos());
        let wrist = (elbow.0 + side * 0.15 * a2.sin(), elbow.1 + 0.15 * a2.cos());
        p[shoulder + 1] = elbow;
        p[shoulder + 2] = wrist;
        let l1: f32 = rng.random_range(-0.15..0.5);
        let l2: f32 = l1 + rng.random_range(-0.5..0.3);
        let hp = p[hip];
        let knee = (hp.0 + side * 0.24 * l1.sin(), hp.1 + 0.24 * l1.cos());
        let ankle = (knee.0 + side * 0.24 * l2.sin(), knee.1 + 0.24 * l2.cos());
        p[hip + 1] = knee;
        p[hip + 2] = ankle;
    }
    let (sin, cos) = lean.sin_cos();
    let mut out = [None; 18];
    for (o, &(x, y)) in out.iter_mut().zip(&p) {
        // Turning the body narrows it; leaning rotates it about the hips.
        let (x, y) = (x * squash, y - 0.32);
        *o = Some((x * cos - y * sin, x * sin + y * cos + 0.32));
    }
    if turn > 0.5 {
        out[16] = None;
    } else if turn < -0.5 {
        out[17] = None;
    }
    out
}

/// MediaPipe face-mesh contours (face oval, eyes, irises, brows, lips) in
/// the ControlNetMediaPipeFace annotator's colours, on black.
fn face_mesh(w: u32, h: u32, rng: &mut impl Rng) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let faces = if rng.random_bool(0.8) { 1 } else { 2 };
    let sc = scale(w, h);
    for _ in 0..faces {
        let rx = w.min(h) as f32 * rng.random_range(0.16..0.3) / faces as f32;
        let ry = rx * rng.random_range(1.2..1.4);
        let centre = (
            rng.random_range(rx..w as f32 - rx),
            rng.random_range(ry..h as f32 - ry),
        );
        let (sin, cos) = rng.random_range(-0.25f32..0.25).sin_cos();
        let yaw = rng.random_range(-0.35..0.35);
        let at = |x: f32, y: f32| {
            let (x, y) = (x * rx, y * ry);
            (centre.0 + x * cos - y * sin, centre.1 + x * sin + y * cos)
        };
        let arc = |n: usize, f: &dyn Fn(f32) -> (f32, f32)| -> Vec<(f32, f32)> {
            (0..=n)
                .map(|i| f(i as f32 / n as f32))
                .map(|(x, y)| at(x, y))
                .collect()
        };
        let t = 2.0 * sc;
        let oval = arc(40, &|u| {
            let a = u * 2.0 * PI;
            let chin = 1.0 - 0.18 * a.sin().max(0.0);
            (a.cos() * chin + yaw * 0.1, a.sin())
        });
        polyline(&mut img, &oval, true, t, [10, 200, 10]);
        let open = rng.random_range(0.03..0.09);
        let raise = rng.random_range(0.0..0.08);
        // (image side, eye, brow, iris colours): the face's right eye is on the left.
        let sides = [
            (-1.0, [10, 200, 180], [10, 220, 180], [10, 200, 250]),
            (1.0, [180, 200, 10], [180, 220, 10], [250, 200, 10]),
        ];
        let gaze = rng.random_range(-0.05..0.05);
        for (side, eye, brow, iris) in sides {
            let cx = side * 0.38 + yaw * 0.5;
            let cy = -0.12;
            let a = 0.17 * (1.0 + side * yaw * 0.8);
            let lid = arc(16, &|u| {
                let t = u * 2.0 * PI;
                let o = if t < PI { open } else { open * 0.7 };
                (cx + a * t.cos(), cy - o * t.sin())
            });
            polyline(&mut img, &lid, true, t, eye);
            let r = open.min(0.05);
            let ring = arc(10, &|u| {
                let t = u * 2.0 * PI;
                (cx + gaze + r * 0.8 * t.cos(), cy + r * t.sin())
            });
            polyline(&mut img, &ring, true, t, iris);
            let brow_pts = arc(8, &|u| {
                (
                    cx + a * 1.2 * (2.0 * u - 1.0),
                    cy - 0.2 - raise - 0.05 * (PI * u).sin(),
                )
            });
            polyline(&mut img, &brow_pts, false, t, brow);
        }
        let mouth_open = rng.random_range(0.0..0.18);
        let smile = rng.random_range(-0.05..0.08);
        let half = rng.random_range(0.25..0.36);
        let (mx, my) = (yaw * 0.35, 0.5);
        let lip = |top: f32, bottom: f32| {
            let mut pts = arc(12, &|u| {
                let x = 2.0 * u - 1.0;
                let f = 1.0 - x * x;
                (mx + x * half, my - smile * (1.0 - f) + top * f)
            });
            pts.extend(arc(12, &|u| {
                let x = 1.0 - 2.0 * u;
                let f = 1.0 - x * x;
                (mx + x * half, my - smile * (1.0 - f) + bottom * f)
            }));
            pts
        };
        polyline(
            &mut img,
            &lip(-0.07, mouth_open + 0.08),
            true,
            t,
            [10, 180, 10],
        );
        polyline(&mut img, &lip(-0.005, mouth_open), true, t, [10, 180, 10]);
        for p in oval.iter().step_by(2) {
            disc(&mut img, *p, 1.5 * sc, [10, 200, 10]);
        }
    }
    img
}

/// M-LSD-style wireframe: white straight segments on black, for a room in
/// one-point perspective or a building facade.
fn straight_lines(w: u32, h: u32, rng: &mut impl Rng) -> RgbImage {
    let mut img = RgbImage::new(w, h);
    let (fw, fh) = (w as f32, h as f32);
    let t = rng.random_range(1.0..2.2) * scale(w, h).max(0.6);
    let white = [255, 255, 255];
    let seg = |img: &mut RgbImage, a: (f32, f32), b: (f32, f32)| line(img, a, b, t, white, 1.0);
    let lerp =
        |a: (f32, f32), b: (f32, f32), u: f32| (a.0 + (b.0 - a.0) * u, a.1 + (b.1 - a.1) * u);
    if rng.random_bool(0.6) {
        // Room: back wall around the vanishing point, edges running out to the corners.
        let vp = (
            fw * rng.random_range(0.35..0.65),
            fh * rng.random_range(0.35..0.6),
        );
        let (hw, hh) = (
            fw * rng.random_range(0.15..0.3),
            fh * rng.random_range(0.12..0.25),
        );
        let back = [
            (vp.0 - hw, vp.1 - hh),
            (vp.0 + hw, vp.1 - hh),
            (vp.0 + hw, vp.1 + hh),
            (vp.0 - hw, vp.1 + hh),
        ];
        let corners = [(0.0, 0.0), (fw, 0.0), (fw, fh), (0.0, fh)];
        for i in 0..4 {
            seg(&mut img, back[i], back[(i + 1) % 4]);
            seg(&mut img, back[i], corners[i]);
        }
        // Windows and doors on the side walls, as perspective quads.
        for (near, far) in [(0usize, 3usize), (1, 2)] {
            if rng.random_bool(0.7) {
                let (u0, u1) = {
                    let a = rng.random_range(0.15..0.5);
                    (a, a + rng.random_range(0.15..0.35))
                };
                let (v0, v1) = (rng.random_range(0.15..0.35), rng.random_range(0.55..0.85));
                let top = |u: f32| lerp(back[near], corners[near], u);
                let bottom = |u: f32| lerp(back[far], corners[far], u);
                let q = [
                    lerp(top(u0), bottom(u0), v0),
                    lerp(top(u1), bottom(u1), v0),
                    lerp(top(u1), bottom(u1), v1),
                    lerp(top(u0), bottom(u0), v1),
                ];
                for i in 0..4 {
                    seg(&mut img, q[i], q[(i + 1) % 4]);
                }
            }
        }
        // Furniture: boxes on the floor whose top edges recede to the vanishing point.
        for _ in 0..rng.random_range(1..=4) {
            let x0 = fw * rng.random_range(0.1..0.7);
            let bw = fw * rng.random_range(0.12..0.3);
            let y1 = fh * rng.random_range(0.75..0.97);
            let bh = fh * rng.random_range(0.08..0.25);
            let f = [(x0, y1 - bh), (x0 + bw, y1 - bh), (x0 + bw, y1), (x0, y1)];
            for i in 0..4 {
                seg(&mut img, f[i], f[(i + 1) % 4]);
            }
            let depth = rng.random_range(0.15..0.35);
            let b0 = lerp(f[0], vp, depth);
            let b1 = lerp(f[1], vp, depth);
            seg(&mut img, f[0], b0);
            seg(&mut img, f[1], b1);
            seg(&mut img, b0, b1);
        }
    } else {
        // Facade: outline, roof line and a grid of windows, sheared a little.
        let shear = rng.random_range(-0.15..0.15);
        let sh = |p: (f32, f32)| (p.0 + shear * (p.1 - fh / 2.0), p.1);
        let (x0, x1) = (
            fw * rng.random_range(0.05..0.2),
            fw * rng.random_range(0.8..0.95),
        );
        let (y0, y1) = (
            fh * rng.random_range(0.08..0.3),
            fh * rng.random_range(0.85..1.0),
        );
        let outline = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)];
        for i in 0..4 {
            seg(&mut img, sh(outline[i]), sh(outline[(i + 1) % 4]));
        }
        seg(&mut img, (0.0, y1), (fw, y1));
        let (rows, cols) = (rng.random_range(2..=6), rng.random_range(2..=6));
        let (cw, rh) = ((x1 - x0) / cols as f32, (y1 - y0) / rows as f32);
        let fill = rng.random_range(0.45..0.7);
        for r in 0..rows {
            for c in 0..cols {
                let (cx, cy) = (x0 + (c as f32 + 0.5) * cw, y0 + (r as f32 + 0.5) * rh);
                let (hw, hh) = (cw * fill / 2.0, rh * fill / 2.0);
                let q = [
                    (cx - hw, cy - hh),
                    (cx + hw, cy - hh),
                    (cx + hw, cy + hh),
                    (cx - hw, cy + hh),
                ];
                for i in 0..4 {
                    seg(&mut img, sh(q[i]), sh(q[(i + 1) % 4]));
                }
            }
        }
    }
    img
}

/// A QR-code-like symbol: random data modules, three finder squares,
/// timing lines and a quiet zone, black on white.
fn qr_code(w: u32, h: u32, rng: &mut impl Rng) -> RgbImage {
    let n = 21 + 4 * rng.random_range(0..4) as usize;
    let mut dark = vec![false; n * n];
    for d in dark.iter_mut() {
        *d = rng.random_bool(0.5);
    }
    let mut set = |x: usize, y: usize, v: bool| dark[y * n + x] = v;
    for (fx, fy) in [(0, 0), (n - 7, 0), (0, n - 7)] {
        // Finder: 7x7 ring, white ring, 3x3 centre; plus a white separator.
        for dy in -1i32..=7 {
            for dx in -1i32..=7 {
                let (x, y) = (fx as i32 + dx, fy as i32 + dy);
                if x < 0 || y < 0 || x >= n as i32 || y >= n as i32 {
                    continue;
                }
                let ring = dx.min(dy).min(6 - dx).min(6 - dy);
                set(x as usize, y as usize, ring == 0 || ring >= 2);
            }
        }
    }
    for i in 8..n - 8 {
        set(i, 6, i % 2 == 0);
        set(6, i, i % 2 == 0);
    }
    let module = (w.min(h) as usize / (n + 8)).max(1);
    let (ox, oy) = ((w as usize - module * n) / 2, (h as usize - module * n) / 2);
    RgbImage::from_fn(w, h, |x, y| {
        let (x, y) = (x as usize, y as usize);
        let inside = x >= ox && y >= oy && x < ox + module * n && y < oy + module * n;
        if inside && dark[((y - oy) / module) * n + (x - ox) / module] {
            Rgb([0, 0, 0])
        } else {
            Rgb([255, 255, 255])
        }
    })
}

/// A grayscale photo with a little contrast and brightness change.
fn grayscale(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (c, b): (f32, f32) = (rng.random_range(0.8..1.3), rng.random_range(-0.1..0.1));
    Plane::luma(v).map(|x| (x - 0.5) * c + 0.5 + b).to_rgb()
}

/// Downscaled `factor` times and enlarged back: what a tile ControlNet is given.
fn low_res(v: &RgbImage, factor: u32) -> RgbImage {
    let (w, h) = v.dimensions();
    let small = imageops::resize(
        v,
        (w / factor).max(8),
        (h / factor).max(8),
        FilterType::Triangle,
    );
    imageops::resize(&small, w, h, FilterType::CatmullRom)
}

/// The photo cut into a grid of patches put back in random order.
fn shuffled(v: &RgbImage, rng: &mut impl Rng) -> RgbImage {
    let (w, h) = v.dimensions();
    let n = rng.random_range(3..=6);
    let (pw, ph) = (w / n, h / n);
    let mut order: Vec<u32> = (0..n * n).collect();
    order.shuffle(rng);
    let mut out = imageops::resize(v, w, h, FilterType::Nearest);
    for (dst, &src) in order.iter().enumerate() {
        let (sx, sy) = ((src % n) * pw, (src / n) * ph);
        let (dx, dy) = ((dst as u32 % n) * pw, (dst as u32 / n) * ph);
        let patch = imageops::crop_imm(v, sx, sy, pw, ph).to_image();
        imageops::replace(&mut out, &patch, dx as i64, dy as i64);
    }
    out
}

/// Spoils a photo; returns it and the JPEG quality to store it at.
fn degrade(
    v: &RgbImage,
    d: Degradation,
    small: Option<(u32, u32)>,
    rng: &mut impl Rng,
) -> (RgbImage, u8) {
    let (w, h) = v.dimensions();
    let sc = scale(w, h);
    let quality = rng.random_range(80..=92);
    let img = match d {
        Degradation::LowRes => {
            let (sw, sh) = small.unwrap_or_else(|| {
                let f = rng.random_range(4.0..8.0);
                ((w as f32 / f) as u32, (h as f32 / f) as u32)
            });
            let (sw, sh) = (sw.clamp(16, w), sh.clamp(16, h));
            let tiny = imageops::resize(v, sw, sh, FilterType::Triangle);
            // Users attach such pictures as they have them: small, or
            // already enlarged by some viewer (blurry or blocky).
            match rng.random_range(0..3) {
                0 => tiny,
                1 => imageops::resize(&tiny, w, h, FilterType::Triangle),
                _ => imageops::resize(&tiny, w, h, FilterType::Nearest),
            }
        }
        Degradation::MotionBlur => {
            let len = rng.random_range(12.0..35.0) * sc;
            let angle = rng.random_range(0.0..PI);
            motion_blur(v, len, angle)
        }
        Degradation::Defocus => imageops::blur(v, rng.random_range(2.0..5.0) * sc),
        Degradation::Haze => {
            let beta = rng.random_range(1.0..2.5);
            let air: f32 = rng.random_range(0.75..0.95);
            let lum = Plane::luma(v).blur(6.0 * sc);
            RgbImage::from_fn(w, h, |x, y| {
                // Far (top, bright sky) hazes most.
                let far = 1.0 - y as f32 / h as f32;
                let dist = 0.7 * far + 0.3 * lum.px[(y * w + x) as usize];
                let t = (-beta * dist).exp();
                let p = v.get_pixel(x, y);
                let a = [air, air, (air + 0.03).min(1.0)];
                Rgb([0, 1, 2].map(|k| to_u8(p[k] as f32 / 255.0 * t + a[k] * (1.0 - t))))
            })
        }
        Degradation::Rain => {
            let mut streaks = RgbImage::new(w, h);
            let slant = rng.random_range(-0.35f32..0.35);
            let count =
                (rng.random_range(400.0..1200.0) * (w * h) as f32 / (512.0 * 512.0)) as usize;
            for _ in 0..count {
                let (x, y) = (
                    rng.random_range(0.0..w as f32),
                    rng.random_range(0.0..h as f32),
                );
                let len = rng.random_range(10.0..40.0) * sc;
                let a = slant + rng.random_range(-0.05..0.05);
                let v8 = rng.random_range(120..=255u8);
                line(
                    &mut streaks,
                    (x, y),
                    (x + len * a.sin(), y + len * a.cos()),
                    1.0,
                    [v8; 3],
                    1.0,
                );
            }
            let s = Plane::luma(&streaks).blur(0.6);
            let alpha = rng.random_range(0.5..0.8);
            RgbImage::from_fn(w, h, |x, y| {
                let r = s.px[(y * w + x) as usize] * alpha;
                let p = v.get_pixel(x, y);
                Rgb([0, 1, 2].map(|k| {
                    let c = p[k] as f32 / 255.0 * 0.85;
                    to_u8(c + r * (1.0 - c))
                }))
            })
        }
        Degradation::Noise => {
            let dark = if rng.random_bool(0.5) {
                rng.random_range(0.25..0.5)
            } else {
                1.0
            };
            let sigma = rng.random_range(0.03..0.1);
            let mut out = v.clone();
            for p in out.pixels_mut() {
                let l = gauss(rng) * sigma;
                for k in 0..3 {
                    let c = (p[k] as f32 / 255.0 * dark).powf(if dark < 1.0 { 1.2 } else { 1.0 });
                    p[k] = to_u8(c + l + gauss(rng) * sigma * 0.5);
                }
            }
            out
        }
        Degradation::Jpeg => {
            let f = rng.random_range(1.0..2.0);
            let s = imageops::resize(
                v,
                (w as f32 / f) as u32,
                (h as f32 / f) as u32,
                FilterType::Triangle,
            );
            return (s, rng.random_range(5..=15));
        }
    };
    (img, quality)
}

fn motion_blur(v: &RgbImage, len: f32, angle: f32) -> RgbImage {
    let (w, h) = v.dimensions();
    let steps = len.round().max(2.0) as i32;
    let (dx, dy) = (angle.cos(), angle.sin());
    RgbImage::from_fn(w, h, |x, y| {
        let mut acc = [0f32; 3];
        for i in 0..=steps {
            let t = i as f32 - steps as f32 / 2.0;
            let sx = (x as f32 + t * dx).round().clamp(0.0, w as f32 - 1.0) as u32;
            let sy = (y as f32 + t * dy).round().clamp(0.0, h as f32 - 1.0) as u32;
            let p = v.get_pixel(sx, sy);
            for k in 0..3 {
                acc[k] += p[k] as f32;
            }
        }
        Rgb(acc.map(|a| (a / (steps + 1) as f32).round() as u8))
    })
}

/// A standard normal sample (Box-Muller).
fn gauss(rng: &mut impl Rng) -> f32 {
    let u1: f32 = rng.random::<f32>().max(1e-7);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic "photo": sky gradient, a dark box, a bright disc, some texture.
    pub(crate) fn test_photo() -> RgbImage {
        RgbImage::from_fn(300, 220, |x, y| {
            let (fx, fy) = (x as f32, y as f32);
            if (fx - 200.0).powi(2) + (fy - 80.0).powi(2) < 900.0 {
                Rgb([240, 220, 60])
            } else if (40..140).contains(&x) && (100..200).contains(&y) {
                Rgb([60, 40, 30])
            } else if y < 110 {
                Rgb([100, 150, (200 + y / 4) as u8])
            } else {
                let t = ((x * 7 + y * 13) % 23 / 4) as u8;
                Rgb([50 + t, 120 + t, 40])
            }
        })
    }

    fn cond(c: Condition) -> Picture {
        Picture::Condition {
            condition: c,
            dark_on_light: false,
        }
    }

    struct Stats {
        mean: f32,
        white: f32,
        black: f32,
        gray: bool,
        colours: usize,
    }

    fn stats(img: &RgbImage) -> Stats {
        let n = (img.width() * img.height()) as f32;
        let mut colours = std::collections::HashSet::new();
        let (mut sum, mut white, mut black, mut gray) = (0f32, 0f32, 0f32, true);
        for p in img.pixels() {
            let l = (p[0] as f32 + p[1] as f32 + p[2] as f32) / 3.0;
            sum += l;
            white += (l > 200.0) as u8 as f32;
            black += (l < 40.0) as u8 as f32;
            gray &= p[0] == p[1] && p[1] == p[2];
            colours.insert(p.0);
        }
        Stats {
            mean: sum / n,
            white: white / n,
            black: black / n,
            gray,
            colours: colours.len(),
        }
    }

    fn draw(p: Picture, seed: u64) -> RgbImage {
        let r = render(&p, &test_photo(), 160, 128, seed);
        r.image
    }

    #[test]
    fn every_condition_has_the_requested_size() {
        for c in Condition::ALL {
            for seed in 0..2 {
                let img = draw(cond(c), seed);
                assert_eq!(img.dimensions(), (160, 128), "{c:?}");
            }
        }
    }

    #[test]
    fn edge_maps_are_sparse_lines_on_black() {
        for seed in 0..3 {
            let s = stats(&draw(cond(Condition::Canny), seed));
            assert!(
                s.black > 0.8 && s.white > 0.01,
                "canny: black {} white {}",
                s.black,
                s.white
            );
            assert!(s.colours <= 2);
            let s = stats(&draw(cond(Condition::Mlsd), seed));
            assert!(
                s.black > 0.7 && s.white > 0.01,
                "mlsd: black {} white {}",
                s.black,
                s.white
            );
            let s = stats(&draw(cond(Condition::SoftEdge), seed));
            assert!(
                s.gray && s.mean < 90.0 && s.white > 0.001,
                "soft edges mean {}",
                s.mean
            );
            let s = stats(&draw(cond(Condition::Pose), seed));
            assert!(
                s.black > 0.7 && s.colours > 5,
                "pose: black {} colours {}",
                s.black,
                s.colours
            );
            let s = stats(&draw(cond(Condition::Face), seed));
            assert!(s.black > 0.7 && s.colours > 3, "face: black {}", s.black);
            let s = stats(&draw(cond(Condition::Scribble), seed));
            assert!(
                s.black > 0.5 && s.white > 0.02,
                "scribble: black {} white {}",
                s.black,
                s.white
            );
        }
        let paper = Picture::Condition {
            condition: Condition::Scribble,
            dark_on_light: true,
        };
        assert!(stats(&draw(paper, 1)).white > 0.5);
    }

    #[test]
    fn line_art_is_dark_lines_on_white() {
        for seed in 0..3 {
            let s = stats(&draw(cond(Condition::LineArt), seed));
            assert!(
                s.gray && s.white > 0.8 && s.black > 0.005,
                "white {} black {}",
                s.white,
                s.black
            );
        }
    }

    #[test]
    fn depth_is_gray_and_brighter_below() {
        for seed in 0..3 {
            let img = draw(cond(Condition::Depth), seed);
            let s = stats(&img);
            assert!(s.gray && s.colours > 20, "depth must be a smooth grayscale");
            let row_mean = |y: u32| {
                (0..img.width())
                    .map(|x| img.get_pixel(x, y)[0] as f32)
                    .sum::<f32>()
            };
            assert!(
                row_mean(120) > row_mean(5),
                "near (bottom) should be brighter"
            );
        }
        assert!(stats(&draw(cond(Condition::Brightness), 0)).gray);
    }

    #[test]
    fn normal_map_is_mostly_blue() {
        for seed in 0..3 {
            let img = draw(cond(Condition::Normal), seed);
            let n = img.pixels().count() as f32;
            let blue = img.pixels().filter(|p| p[2] > 128).count() as f32;
            let lavender = img
                .pixels()
                .filter(|p| p[2] > 200 && (90..170).contains(&p[0]) && (90..170).contains(&p[1]))
                .count() as f32;
            assert!(
                blue / n > 0.95 && lavender / n > 0.5,
                "blue {} lavender {}",
                blue / n,
                lavender / n
            );
        }
    }

    #[test]
    fn segmentations_have_flat_regions() {
        for seed in 0..3 {
            let img = draw(cond(Condition::Segmentation), seed);
            let s = stats(&img);
            assert!((2..=8).contains(&s.colours), "{} colours", s.colours);
            assert!(img.pixels().all(|p| ADE20K.contains(&p.0)));
            let s = stats(&draw(cond(Condition::SamMask), seed));
            assert!(
                s.colours >= 3 && s.colours < 400,
                "SAM {} colours",
                s.colours
            );
        }
    }

    #[test]
    fn qr_code_is_black_and_white_with_finders() {
        let img = draw(cond(Condition::QrCode), 3);
        let s = stats(&img);
        assert_eq!(s.colours, 2);
        assert!(
            s.white > 0.4 && s.black > 0.15,
            "white {} black {}",
            s.white,
            s.black
        );
    }

    #[test]
    fn degraded_photos_look_spoiled() {
        let sharpness = |img: &RgbImage| {
            let (gx, gy) = Plane::luma(img).sobel();
            // Gradient energy: blurring spreads an edge's step, lowering it.
            gx.zip(&gy, |a, b| a * a + b * b).px.iter().sum::<f32>() / img.pixels().count() as f32
        };
        // Same seed, same crop: the degraded picture against the clean one.
        let big = |p: Picture| render(&p, &test_photo(), 320, 256, 5).image;
        let photo = big(Picture::Photo);
        assert_eq!(photo.dimensions(), (320, 256));
        for d in [Degradation::MotionBlur, Degradation::Defocus] {
            let img = big(Picture::Degraded {
                degradation: d,
                small: None,
                jpeg: false,
            });
            assert!(
                sharpness(&img) < sharpness(&photo) * 0.8,
                "{d:?} is not blurrier"
            );
        }
        let small = render(
            &Picture::Degraded {
                degradation: Degradation::LowRes,
                small: Some((40, 30)),
                jpeg: true,
            },
            &test_photo(),
            160,
            128,
            0,
        );
        assert!(small.jpeg_quality <= 40);
        let d = small.image.dimensions();
        assert!(d == (40, 30) || d == (160, 128), "{d:?}");
        for d in Degradation::ALL {
            let r = render(
                &Picture::Degraded {
                    degradation: d,
                    small: None,
                    jpeg: false,
                },
                &test_photo(),
                160,
                128,
                1,
            );
            assert!(r.encode("jpg").unwrap().starts_with(&[0xFF, 0xD8]), "{d:?}");
        }
    }

    #[test]
    fn renders_are_deterministic_per_seed() {
        for c in [Condition::Canny, Condition::Pose, Condition::SamMask] {
            assert_eq!(draw(cond(c), 9), draw(cond(c), 9));
            assert_ne!(draw(cond(c), 9), draw(cond(c), 10));
        }
    }
}
