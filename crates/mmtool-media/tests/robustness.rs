//! Truncated, garbage and header-only inputs of every supported format must
//! give an error naming the file (or, for partly intact files, a decode),
//! never a panic.

mod fixtures;

use std::path::{Path, PathBuf};

use fixtures::*;
use image::ImageFormat;
use mmtool_media::{decode_audio, decode_image, decode_video, Limits, MediaError};

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Damaged variants of a valid file: cut at several points, and the first
/// bytes kept with the rest replaced by noise.
fn damaged(dir: &Path, src: &Path) -> Vec<PathBuf> {
    let bytes = std::fs::read(src).unwrap();
    let name = src.file_name().unwrap().to_str().unwrap();
    let mut out = Vec::new();
    for (i, cut) in [
        1,
        4,
        12,
        40,
        bytes.len() / 3,
        bytes.len() / 2,
        bytes.len() - 1,
    ]
    .into_iter()
    .enumerate()
    {
        let p = dir.join(format!("cut{i}_{name}"));
        std::fs::write(&p, &bytes[..cut.min(bytes.len())]).unwrap();
        out.push(p);
    }
    for (i, keep) in [16, 64, 200].into_iter().enumerate() {
        let keep = keep.min(bytes.len());
        let mut v = bytes[..keep].to_vec();
        v.extend(noise(
            bytes.len().saturating_sub(keep).max(256),
            i as u64 + 7,
        ));
        let p = dir.join(format!("noise{i}_{name}"));
        std::fs::write(&p, v).unwrap();
        out.push(p);
    }
    out
}

fn check<T>(path: &Path, r: Result<T, MediaError>) {
    if let Err(e) = r {
        let file = path.file_name().unwrap().to_str().unwrap();
        assert!(
            e.to_string().contains(file),
            "error does not name the file: {e}"
        );
    }
}

#[test]
fn damaged_images_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let img = halves(48, 32);
    for (fmt, name) in [
        (ImageFormat::Jpeg, "x.jpg"),
        (ImageFormat::Png, "x.png"),
        (ImageFormat::WebP, "x.webp"),
        (ImageFormat::Gif, "x.gif"),
        (ImageFormat::Bmp, "x.bmp"),
    ] {
        let src = write_image(dir.path(), name, &img, fmt);
        for p in damaged(dir.path(), &src) {
            check(&p, decode_image(&p, &Limits::default()));
        }
    }
}

#[test]
fn damaged_audio_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let wav = write_wav(dir.path(), "x.wav", 22_050, 2, 1.0, 330.0);
    let mut sources = vec![wav.clone()];
    if have_ffmpeg() {
        let src = wav.to_str().unwrap();
        for (out, codec) in [
            ("x.flac", "flac"),
            ("x.mp3", "libmp3lame"),
            ("x.ogg", "libvorbis"),
            ("x.m4a", "aac"),
        ] {
            sources.push(ffmpeg(dir.path(), out, &["-i", src, "-c:a", codec]));
        }
    }
    for src in sources {
        for p in damaged(dir.path(), &src) {
            check(&p, decode_audio(&p, 16_000, &Limits::default()));
        }
    }
}

#[test]
fn damaged_video_never_panics() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = ffmpeg(
        dir.path(),
        "x.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10:duration=1",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );
    for p in damaged(dir.path(), &src) {
        check(&p, decode_video(&p, 4, 16_000, &Limits::default()));
    }
}

#[test]
fn garbage_is_unrecognized() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("garbage.jpg");
    std::fs::write(
        &p,
        noise(4096, 1).iter().map(|b| b & 0x7F).collect::<Vec<_>>(),
    )
    .unwrap();
    for err in [
        decode_image(&p, &Limits::default()).unwrap_err(),
        decode_audio(&p, 16_000, &Limits::default()).unwrap_err(),
        decode_video(&p, 4, 16_000, &Limits::default()).unwrap_err(),
    ] {
        assert!(matches!(err, MediaError::Unrecognized { .. }), "{err}");
        assert!(err.to_string().contains("garbage.jpg"));
    }
}
