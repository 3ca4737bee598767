mod fixtures;

use std::path::{Path, PathBuf};

use fixtures::*;
use image::{ImageFormat, Rgb, RgbImage};
use mmtool_media::{decode_video, sniff, Limits, MediaError, MediaKind, VideoKind};

/// 25 frames at 25 fps; frame k is a flat gray of level 20 + 8k, so a decoded
/// frame's brightness says which frame it is.
fn ramp_video(dir: &Path, name: &str, x264_args: &[&str], with_audio: bool) -> PathBuf {
    for k in 0..25u8 {
        let level = 20 + 8 * k;
        let img = RgbImage::from_pixel(64, 48, Rgb([level, level, level]));
        img.save_with_format(dir.join(format!("f{k:03}.png")), ImageFormat::Png)
            .unwrap();
    }
    let pattern = dir.join("f%03d.png");
    let mut args = vec!["-framerate", "25", "-i", pattern.to_str().unwrap()];
    if with_audio {
        args.extend([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000:duration=1",
        ]);
    }
    args.extend(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "5"]);
    args.extend_from_slice(x264_args);
    if with_audio {
        args.extend(["-c:a", "aac", "-shortest"]);
    }
    ffmpeg(dir, name, &args)
}

fn frame_index(img: &RgbImage) -> f32 {
    (mean_level(img) - 20.0) / 8.0
}

#[test]
fn samples_frames_evenly_with_b_frames_and_audio() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // High profile with B-frames: decode order differs from display order.
    let p = ramp_video(
        dir.path(),
        "clip.mp4",
        &["-profile:v", "high", "-bf", "2", "-g", "10"],
        true,
    );
    assert_eq!(sniff(&p).unwrap(), MediaKind::Video(VideoKind::Mp4));
    let v = decode_video(&p, 5, 16_000, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v.frames.len(), 5);
    assert_eq!(v.timestamps_s.len(), 5);
    assert!(
        (v.duration_s - 1.0).abs() < 0.1,
        "duration {}",
        v.duration_s
    );
    // Slice midpoints of 25 frames in 5 slices: frames 2, 7, 12, 17, 22.
    for (i, (frame, t)) in v.frames.iter().zip(&v.timestamps_s).enumerate() {
        let want = (5 * i + 2) as f32;
        let got = frame_index(frame);
        assert!(
            (got - want).abs() < 0.5,
            "frame {i}: shows {got}, want {want}"
        );
        assert!((t - want / 25.0).abs() < 0.01, "frame {i}: t={t}");
        assert_eq!(frame.dimensions(), (64, 48));
    }
    let audio = v.audio.expect("clip has an AAC track");
    assert_eq!(audio.sample_rate, 16_000);
    assert!(
        (audio.duration_s - 1.0).abs() < 0.1,
        "audio {} s",
        audio.duration_s
    );
    let f = pitch(&audio.samples[1000..15_000], 16_000);
    assert!((f - 440.0).abs() < 5.0, "pitch {f}");
}

#[test]
fn baseline_video_without_audio_and_more_frames_than_the_clip() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = ramp_video(dir.path(), "silent.mp4", &["-profile:v", "baseline"], false);
    let v = decode_video(&p, 50, 16_000, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(v.audio.is_none());
    assert_eq!(v.frames.len(), 50, "always exactly n_frames");
    assert!((frame_index(&v.frames[0]) - 0.0).abs() < 0.5);
    assert!((frame_index(&v.frames[49]) - 24.0).abs() < 0.5);
    assert!(v.timestamps_s.windows(2).all(|w| w[0] <= w[1]));
    // Asking a video without audio for its audio is an error naming the file.
    let err = mmtool_media::decode_audio(&p, 16_000, &Limits::default()).unwrap_err();
    assert!(
        err.to_string().contains("silent.mp4") && err.to_string().contains("audio track"),
        "{err}"
    );
}

#[test]
fn video_limits_and_wrong_kinds() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = ramp_video(dir.path(), "v.mp4", &[], false);
    let short = Limits {
        max_duration_s: 0.5,
        ..Limits::default()
    };
    assert!(matches!(
        decode_video(&p, 4, 16_000, &short).unwrap_err(),
        MediaError::TooLong { .. }
    ));
    let small = Limits {
        max_pixels: 1000,
        ..Limits::default()
    };
    assert!(matches!(
        decode_video(&p, 4, 16_000, &small).unwrap_err(),
        MediaError::TooManyPixels { .. }
    ));
    let downscale = Limits {
        max_side: 32,
        ..Limits::default()
    };
    let v = decode_video(&p, 2, 0, &downscale).unwrap();
    assert_eq!(v.frames[0].dimensions(), (32, 24));
    assert!(v.audio.is_none(), "audio_sr 0 skips audio");

    let png = write_image(dir.path(), "still.mp4", &halves(8, 8), ImageFormat::Png);
    let err = decode_video(&png, 4, 16_000, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, MediaError::WrongKind { .. }) && err.to_string().contains("still.mp4"),
        "{err}"
    );

    let m4a = ffmpeg(
        dir.path(),
        "song.m4a",
        &["-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac"],
    );
    let err = decode_video(&m4a, 4, 16_000, &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::WrongKind { .. }), "{err}");
}

#[test]
fn non_h264_video_is_unsupported() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = ffmpeg(
        dir.path(),
        "mpeg4.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=64x48:rate=10:duration=0.5",
            "-c:v",
            "mpeg4",
        ],
    );
    let err = decode_video(&p, 2, 0, &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("mpeg4.mp4"), "{err}");
}
