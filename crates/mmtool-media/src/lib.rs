//! Media decoding: images, audio and video files into pixels and samples, for
//! the frozen encoders in `mmtool-encoders`.
//!
//! Rules every decoder here follows:
//! - **Content wins over the extension.** The format is sniffed from the file's
//!   magic bytes ([`sniff`]); a `.jpg` that holds a PNG decodes as a PNG. Asking
//!   for the wrong *kind* (an image decoder on an audio file) is a
//!   [`MediaError::WrongKind`] naming what the content really is.
//! - **Limits are checked before the expensive work.** The file size is checked
//!   before reading; image dimensions are read from the header and refused above
//!   [`Limits::max_pixels`] before any pixel buffer is allocated; audio/video
//!   durations from the container header are refused above
//!   [`Limits::max_duration_s`] before decoding (and again while decoding, for
//!   streams whose header does not state a length).
//! - **Large pictures are downscaled** after decoding so the longest side is at
//!   most [`Limits::max_side`] (aspect ratio kept); the encoders resize to 224 or
//!   so anyway, and this bounds the memory the rest of the pipeline holds.
//! - **Nothing panics.** Malformed input gives a [`MediaError`] naming the file.
//!   Third-party decoders run under `catch_unwind` as a last line of defence.

mod audio;
mod error;
mod image_decode;
mod sniff;
mod video;

use std::path::Path;

pub use audio::{decode_audio, Audio};
pub use error::MediaError;
pub use image_decode::decode_image;
pub use sniff::{sniff, sniff_bytes, AudioKind, ImageKind, MediaKind, SniffError, VideoKind};
pub use video::{decode_video, Video};

/// Bounds on what a decoder accepts. Every field is public so callers (the CLI,
/// the server) can tighten or relax them.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Largest image (or video frame) accepted, in pixels (width x height),
    /// checked from the header before decoding.
    pub max_pixels: u64,
    /// Decoded images and video frames whose longest side exceeds this are
    /// downscaled to it.
    pub max_side: u32,
    /// Longest audio or video clip accepted, in seconds.
    pub max_duration_s: f32,
}

impl Default for Limits {
    /// 256 MiB files, 64 megapixels (a 9000x7000 photo; refuses gigapixel
    /// panoramas), frames downscaled to 1024 px, clips up to 10 minutes.
    fn default() -> Self {
        Limits {
            max_bytes: 256 * 1024 * 1024,
            max_pixels: 64_000_000,
            max_side: 1024,
            max_duration_s: 600.0,
        }
    }
}

/// Reads a whole file, refusing empty files and files over `limits.max_bytes`
/// before reading them.
pub(crate) fn read_limited(path: &Path, limits: &Limits) -> Result<Vec<u8>, MediaError> {
    let io_err = |source| MediaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if meta.is_dir() {
        return Err(io_err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a directory",
        )));
    }
    if meta.len() > limits.max_bytes {
        return Err(MediaError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = std::fs::read(path).map_err(io_err)?;
    if bytes.is_empty() {
        return Err(MediaError::Empty {
            path: path.to_path_buf(),
        });
    }
    // The file may have grown between stat and read.
    if bytes.len() as u64 > limits.max_bytes {
        return Err(MediaError::TooLarge {
            path: path.to_path_buf(),
            bytes: bytes.len() as u64,
            limit: limits.max_bytes,
        });
    }
    Ok(bytes)
}

/// Runs a decoder, turning a panic inside a third-party codec into a
/// [`MediaError::Corrupt`] instead of taking the whole process down.
pub(crate) fn guard<T>(
    path: &Path,
    format: &'static str,
    f: impl FnOnce() -> Result<T, MediaError>,
) -> Result<T, MediaError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "decoder panicked".to_string());
            Err(MediaError::corrupt(
                path,
                format,
                format!("decoder failed: {msg}"),
            ))
        }
    }
}

/// Scales `img` down so its longest side is at most `max_side`; smaller images
/// are returned unchanged.
pub(crate) fn fit_within(img: image::RgbImage, max_side: u32) -> image::RgbImage {
    let (w, h) = img.dimensions();
    let longest = w.max(h);
    if max_side == 0 || longest <= max_side {
        return img;
    }
    let scale = f64::from(max_side) / f64::from(longest);
    let nw = ((f64::from(w) * scale).round() as u32).max(1);
    let nh = ((f64::from(h) * scale).round() as u32).max(1);
    image::imageops::resize(&img, nw, nh, image::imageops::FilterType::Triangle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_within_keeps_aspect_and_small_images() {
        let img = image::RgbImage::new(4000, 3000);
        let out = fit_within(img, 1024);
        assert_eq!(out.dimensions(), (1024, 768));
        let small = image::RgbImage::new(300, 200);
        assert_eq!(fit_within(small, 1024).dimensions(), (300, 200));
        let tall = image::RgbImage::new(10, 5000);
        assert_eq!(fit_within(tall, 1000).dimensions(), (2, 1000));
    }

    #[test]
    fn read_limited_refuses_empty_large_missing_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.png");
        std::fs::write(&empty, b"").unwrap();
        let err = read_limited(&empty, &Limits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("empty.png"));

        let big = dir.path().join("big.bin");
        std::fs::write(&big, vec![0u8; 100]).unwrap();
        let limits = Limits {
            max_bytes: 99,
            ..Limits::default()
        };
        let err = read_limited(&big, &limits).unwrap_err();
        assert!(
            matches!(
                err,
                MediaError::TooLarge {
                    bytes: 100,
                    limit: 99,
                    ..
                }
            ),
            "{err}"
        );

        let missing = dir.path().join("missing.wav");
        let err = read_limited(&missing, &Limits::default()).unwrap_err();
        assert!(matches!(err, MediaError::Io { .. }) && err.to_string().contains("missing.wav"));

        let err = read_limited(dir.path(), &Limits::default()).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[test]
    fn guard_turns_panics_into_errors() {
        let p = Path::new("x.mp3");
        let err = guard::<()>(p, "MP3", || panic!("boom")).unwrap_err();
        assert!(
            err.to_string().contains("x.mp3") && err.to_string().contains("boom"),
            "{err}"
        );
    }
}
