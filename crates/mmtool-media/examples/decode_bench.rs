//! Decode latency of the three media kinds at their typical request sizes:
//! a 1024x768 JPEG, 10 s of audio (WAV and MP3, 44.1 kHz stereo -> 16 kHz mono),
//! and a 10 s 1280x720 H.264 + AAC clip (8 frames + audio at 16 kHz).
//!
//! The machine is shared, so every figure is also given as a ratio to a fixed
//! CPU calibration loop timed in the same run.
//!
//!     cargo run --release -p mmtool-media --example decode_bench [-- RUNS]
//!
//! Needs `ffmpeg` on PATH to make the MP3 and MP4 inputs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mmtool_media::{decode_audio, decode_image, decode_video, Limits};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

/// A fixed amount of scalar float work (~20M multiply-adds).
fn calibration() -> f32 {
    let mut acc = 0f32;
    let mut x = 1.0001f32;
    for i in 0..20_000_000u32 {
        x = x * 0.999_999 + (i & 7) as f32 * 1e-7;
        acc += x;
    }
    acc
}

fn ffmpeg(dir: &Path, out: &str, args: &[&str]) -> std::path::PathBuf {
    let path = dir.join(out);
    let ok = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "error", "-nostdin"])
        .args(args)
        .arg(&path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "ffmpeg is needed to make {out}");
    path
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let limits = Limits::default();

    // A photo-like JPEG: smooth gradients plus texture, 1024x768.
    let img = image::RgbImage::from_fn(1024, 768, |x, y| {
        let n = (x.wrapping_mul(2_654_435_761) ^ y.wrapping_mul(40_503)) >> 27;
        image::Rgb([(x / 4) as u8 ^ n as u8, (y / 3) as u8, ((x + y) / 7) as u8])
    });
    let jpg = d.join("photo.jpg");
    img.save(&jpg).unwrap();
    let wav = ffmpeg(
        d,
        "speech.wav",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=10",
            "-ac",
            "2",
        ],
    );
    let mp3 = ffmpeg(
        d,
        "speech.mp3",
        &[
            "-i",
            wav.to_str().unwrap(),
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
        ],
    );
    let mp4 = ffmpeg(
        d,
        "clip.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30:duration=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=10",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    );

    let base = time(runs, calibration);
    let rows = [
        (
            "image 1024x768 JPEG",
            time(runs, || decode_image(&jpg, &limits).unwrap()),
        ),
        (
            "audio 10 s WAV 44.1k stereo -> 16k",
            time(runs, || decode_audio(&wav, 16_000, &limits).unwrap()),
        ),
        (
            "audio 10 s MP3 44.1k stereo -> 16k",
            time(runs, || decode_audio(&mp3, 16_000, &limits).unwrap()),
        ),
        (
            "video 10 s 720p30 H.264+AAC, 8 frames",
            time(runs, || decode_video(&mp4, 8, 16_000, &limits).unwrap()),
        ),
        (
            "video 10 s 720p30 H.264, 8 frames, no audio",
            time(runs, || decode_video(&mp4, 8, 0, &limits).unwrap()),
        ),
    ];
    println!(
        "median of {runs} runs; calibration loop = {:.1} ms",
        base.as_secs_f64() * 1e3
    );
    println!("{:<46} {:>10} {:>12}", "input", "ms", "x calib");
    for (name, t) in rows {
        println!(
            "{:<46} {:>10.1} {:>12.2}",
            name,
            t.as_secs_f64() * 1e3,
            t.as_secs_f64() / base.as_secs_f64()
        );
    }
}
