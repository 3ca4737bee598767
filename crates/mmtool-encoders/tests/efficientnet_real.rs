//! Real-weight checks for EfficientNet-Lite0. They need the converted weights
//! (`scripts/fetch-weights.sh efficientnet`) and the scikit-image sample photos
//! (`scripts/fetch-test-images.sh`); without them they print why and pass.

use std::path::PathBuf;

use mmtool_encoders::efficientnet::EfficientNet;

fn cache() -> PathBuf {
    std::env::var_os("MMTOOL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/mmtool"))
}

fn setup() -> Option<(EfficientNet, PathBuf)> {
    let dir = EfficientNet::default_dir();
    let images = cache().join("testdata/skimage");
    if !dir.join("model.safetensors").is_file() {
        eprintln!(
            "skipping: no weights in {} (run scripts/fetch-weights.sh efficientnet)",
            dir.display()
        );
        return None;
    }
    if !images.join(".complete").is_file() {
        eprintln!(
            "skipping: no test photos in {} (run scripts/fetch-test-images.sh)",
            images.display()
        );
        return None;
    }
    Some((EfficientNet::load(&dir).expect("load weights"), images))
}

fn load(images: &std::path::Path, name: &str) -> image::RgbImage {
    image::open(images.join(name)).expect(name).to_rgb8()
}

#[test]
fn classifies_sample_photographs() {
    let Some((model, images)) = setup() else {
        return;
    };
    // (photo, ImageNet classes any of which is a right answer in the top 3)
    let cases: &[(&str, &[&str])] = &[
        ("chelsea.png", &["tabby", "tiger cat", "Egyptian cat"]),
        ("coffee.png", &["espresso", "cup", "coffee mug"]),
        ("rocket.jpg", &["space shuttle", "missile", "projectile"]),
        (
            "motorcycle_left.png",
            &["moped", "motor scooter", "crash helmet", "disk brake"],
        ),
    ];
    for (name, expected) in cases {
        let top = model.classify(&load(&images, name), 3).unwrap();
        eprintln!("{name}: {top:?}");
        assert!(
            expected.contains(&top[0].0.as_str()),
            "{name}: top-1 {:?} not in {expected:?} (top-3 {top:?})",
            top[0].0
        );
        let total: f32 = top.iter().map(|(_, p)| p).sum();
        assert!(
            top[0].1 > 0.2 && total <= 1.0 + 1e-5,
            "{name}: implausible probabilities {top:?}"
        );
    }
}

#[test]
fn embedding_is_deterministic_and_discriminative() {
    let Some((model, images)) = setup() else {
        return;
    };
    let cat = load(&images, "chelsea.png");
    let a = model.embed(&cat).unwrap();
    let b = model.embed(&cat).unwrap();
    assert_eq!(a.len(), 1280);
    assert_eq!(a, b, "same image, different embedding");
    // ReLU6 then average pooling bounds every feature to [0, 6].
    assert!(a.iter().all(|v| (0.0..=6.0).contains(v)));
    let cos = |x: &[f32], y: &[f32]| {
        let d: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
        d / (x.iter().map(|v| v * v).sum::<f32>().sqrt()
            * y.iter().map(|v| v * v).sum::<f32>().sqrt())
    };
    let coffee = model.embed(&load(&images, "coffee.png")).unwrap();
    // A slightly shifted crop of the cat stays closer to the cat than the coffee does.
    let (w, h) = cat.dimensions();
    let shifted = image::imageops::crop_imm(&cat, 10, 6, w - 20, h - 12).to_image();
    let s = model.embed(&shifted).unwrap();
    assert!(
        cos(&a, &s) > cos(&a, &coffee),
        "cat~shifted {} <= cat~coffee {}",
        cos(&a, &s),
        cos(&a, &coffee)
    );
}
