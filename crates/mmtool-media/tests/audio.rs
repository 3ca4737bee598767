mod fixtures;

use fixtures::*;
use mmtool_media::{decode_audio, sniff, AudioKind, Limits, MediaError, MediaKind};

#[test]
fn wav_stereo_is_mixed_down_and_resampled() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_wav(dir.path(), "tone.wav", 44_100, 2, 2.0, 440.0);
    let a = decode_audio(&p, 16_000, &Limits::default()).unwrap();
    assert_eq!(a.sample_rate, 16_000);
    assert_eq!(a.samples.len(), 32_000);
    assert!((a.duration_s - 2.0).abs() < 1e-3);
    let f = pitch(&a.samples[1000..31_000], 16_000);
    assert!((f - 440.0).abs() < 3.0, "pitch {f}");
    let peak = a.samples.iter().fold(0f32, |m, s| m.max(s.abs()));
    assert!((peak - 0.5).abs() < 0.05, "peak {peak}");
}

#[test]
fn mono_mixdown_averages_channels() {
    // Left +0.5 DC, right -0.5 DC: the mono mix is silence.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lr.wav");
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 16_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&path, spec).unwrap();
    for _ in 0..1600 {
        w.write_sample(16_384i16).unwrap();
        w.write_sample(-16_384i16).unwrap();
    }
    w.finalize().unwrap();
    let a = decode_audio(&path, 16_000, &Limits::default()).unwrap();
    assert_eq!(a.samples.len(), 1600);
    assert!(a.samples.iter().all(|s| s.abs() < 1e-3));
}

#[test]
fn compressed_formats_decode_when_ffmpeg_is_present() {
    if !have_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wav = write_wav(dir.path(), "src.wav", 44_100, 2, 3.0, 440.0);
    let src = wav.to_str().unwrap();
    for (out, codec, kind) in [
        ("a.flac", "flac", AudioKind::Flac),
        ("a.mp3", "libmp3lame", AudioKind::Mp3),
        ("a.ogg", "libvorbis", AudioKind::OggVorbis),
        ("a.m4a", "aac", AudioKind::M4a),
    ] {
        let p = ffmpeg(dir.path(), out, &["-i", src, "-c:a", codec]);
        assert_eq!(sniff(&p).unwrap(), MediaKind::Audio(kind), "{out}");
        let a = decode_audio(&p, 16_000, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        // Lossy codecs add priming/padding; the length stays within 0.1 s.
        assert!(
            (a.duration_s - 3.0).abs() < 0.1,
            "{out}: {} s",
            a.duration_s
        );
        let f = pitch(&a.samples[2000..40_000], 16_000);
        assert!((f - 440.0).abs() < 5.0, "{out}: pitch {f}");
    }
}

#[test]
fn refuses_clips_over_the_duration_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_wav(dir.path(), "long.wav", 8_000, 1, 3.0, 440.0);
    let limits = Limits {
        max_duration_s: 2.0,
        ..Limits::default()
    };
    let err = decode_audio(&p, 16_000, &limits).unwrap_err();
    assert!(matches!(err, MediaError::TooLong { .. }), "{err}");
    assert!(err.to_string().contains("long.wav"), "{err}");
}

#[test]
fn empty_and_zero_length_audio_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_wav(dir.path(), "silent.wav", 16_000, 1, 0.0, 440.0);
    let err = decode_audio(&p, 16_000, &Limits::default()).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::ZeroLength { .. } | MediaError::Corrupt { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("silent.wav"));
    let e = dir.path().join("empty.mp3");
    std::fs::write(&e, b"").unwrap();
    assert!(matches!(
        decode_audio(&e, 16_000, &Limits::default()).unwrap_err(),
        MediaError::Empty { .. }
    ));
}

#[test]
fn truncated_wav_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_wav(dir.path(), "cut.wav", 16_000, 1, 2.0, 440.0);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = decode_audio(&p, 16_000, &Limits::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cut.wav") && msg.contains("truncated"),
        "{msg}"
    );
}

#[test]
fn images_are_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_image(
        dir.path(),
        "pic.wav",
        &halves(8, 8),
        image::ImageFormat::Png,
    );
    let err = decode_audio(&p, 16_000, &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::WrongKind { .. }), "{err}");
    assert!(err.to_string().contains("image (PNG)"), "{err}");
}
