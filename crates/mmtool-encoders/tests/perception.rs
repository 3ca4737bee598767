//! Files in, findings out: the path `mmtool embed` and `recommend --image/--audio` take.
//! Needs the fetched EfficientNet and Whisper weights; skips (with a message) without them.

use std::path::Path;

use mmtool_data::Modality;
use mmtool_encoders::Perceiver;
use mmtool_media::Limits;

fn perceiver() -> Option<Perceiver> {
    let cache = Perceiver::default_cache_dir();
    for m in ["efficientnet/model.safetensors", "whisper/model.bin"] {
        if !cache.join("models").join(m).is_file() {
            eprintln!("SKIPPED: {} missing; run scripts/fetch-weights.sh", m);
            return None;
        }
    }
    Some(Perceiver::new(cache, Limits::default()))
}

fn write_png(path: &Path) {
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    img.save_with_format(path, image::ImageFormat::Png).unwrap();
}

fn write_wav(path: &Path, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 22_050,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * 22_050.0) as usize {
        let t = i as f32 / 22_050.0;
        w.write_sample(((t * 440.0 * std::f32::consts::TAU).sin() * 8000.0) as i16)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn image_and_audio_files_give_embeddings_and_findings() {
    let Some(p) = perceiver() else { return };
    let dir = tempfile::tempdir().unwrap();
    // A misleading extension: the content decides.
    let png = dir.path().join("picture.dat");
    write_png(&png);
    let r = p.perceive(&png, Some(Modality::Image)).unwrap();
    assert_eq!(r.modality, Modality::Image);
    assert_eq!(r.embedding.len(), 1280);
    assert_eq!(r.labels.len(), 5);
    assert!(r.norm().is_finite() && r.norm() > 0.0);
    let again = p.perceive(&png, None).unwrap();
    assert_eq!(
        again.embedding, r.embedding,
        "encoding must be deterministic"
    );

    let wav = dir.path().join("tone.wav");
    write_wav(&wav, 2.0);
    let a = p.perceive(&wav, None).unwrap();
    assert_eq!(a.modality, Modality::Audio);
    assert_eq!(a.embedding.len(), 512);
    assert_eq!(a.languages.len(), 5);
    let total: f32 = a.languages.iter().map(|(_, p)| p).sum();
    assert!(total > 0.0 && total <= 1.0001, "{total}");
    assert_eq!(a.findings()["embedding_dim"], 512);
}

#[test]
fn wrong_flag_and_corrupt_files_are_clear_errors() {
    let Some(p) = perceiver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    write_wav(&wav, 0.5);
    let msg = p
        .perceive(&wav, Some(Modality::Image))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tone.wav") && msg.contains("given as image"),
        "{msg}"
    );

    let junk = dir.path().join("junk.jpg");
    std::fs::write(&junk, b"\xff\xd8\xff\xe0 this is not really a jpeg").unwrap();
    let msg = format!("{:#}", p.perceive(&junk, None).unwrap_err());
    assert!(msg.contains("junk.jpg"), "{msg}");
}

#[test]
fn the_embedding_cache_encodes_each_content_once() {
    let Some(p) = perceiver() else { return };
    let dir = tempfile::tempdir().unwrap();
    let memo = dir.path().join("memo");
    let p = p.with_embedding_cache(memo.clone());
    let a = dir.path().join("a.png");
    write_png(&a);
    let first = p.perceive(&a, None).unwrap();
    assert!(!first.cached);
    let entries = || std::fs::read_dir(&memo).unwrap().count();
    assert_eq!(entries(), 1);
    // The same bytes under another name: read back, not encoded.
    let b = dir.path().join("copy.bin");
    std::fs::copy(&a, &b).unwrap();
    let second = p.perceive(&b, Some(Modality::Image)).unwrap();
    assert!(second.cached);
    assert_eq!(second.embedding, first.embedding);
    assert_eq!(second.labels, first.labels);
    // The modality check still applies to a cached file.
    assert!(p.perceive(&b, Some(Modality::Audio)).is_err());
    // A corrupt entry is re-encoded and replaced.
    let entry = std::fs::read_dir(&memo)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::write(&entry, "{not json").unwrap();
    let third = p.perceive(&a, None).unwrap();
    assert!(!third.cached);
    assert_eq!(third.embedding, first.embedding);
    assert!(p.perceive(&a, None).unwrap().cached);
    // Other content, other entry.
    let w = dir.path().join("tone.wav");
    write_wav(&w, 1.0);
    assert!(!p.perceive(&w, None).unwrap().cached);
    assert_eq!(entries(), 2);
}
