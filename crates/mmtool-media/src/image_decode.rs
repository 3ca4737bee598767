use std::io::Cursor;
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageError, ImageReader, RgbImage};

use crate::sniff::{sniff_bytes, ImageKind, MediaKind};
use crate::{fit_within, guard, read_limited, Limits, MediaError};

/// Decodes a JPEG, PNG, WebP, GIF (first frame) or BMP file into RGB pixels.
///
/// The format is taken from the content. The EXIF orientation is applied, so a
/// portrait phone photo comes out upright. Images over `limits.max_pixels` are
/// refused from their header, before the pixel buffer is allocated; decoded
/// images are downscaled so the longest side is at most `limits.max_side`.
/// Transparency is dropped (alpha is ignored, not blended).
pub fn decode_image(path: &Path, limits: &Limits) -> Result<RgbImage, MediaError> {
    let bytes = read_limited(path, limits)?;
    let kind = match sniff_bytes(&bytes).map_err(|e| e.into_error(path))? {
        MediaKind::Image(k) => k,
        other => {
            return Err(MediaError::WrongKind {
                path: path.to_path_buf(),
                expected: "an image",
                found: other.to_string(),
            })
        }
    };
    guard(path, kind.name(), || {
        decode_image_bytes(path, &bytes, kind, limits)
    })
}

pub(crate) fn decode_image_bytes(
    path: &Path,
    bytes: &[u8],
    kind: ImageKind,
    limits: &Limits,
) -> Result<RgbImage, MediaError> {
    let map_err = |e: ImageError| image_error(path, kind, e);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), kind.image_format());
    // Our own pixel check below gives the clearer error; this allocation cap is
    // the backstop for decoders that allocate more than width x height x 4.
    let mut image_limits = image::Limits::default();
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).max(1 << 20));
    reader.limits(image_limits);
    let mut decoder = reader.into_decoder().map_err(map_err)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(MediaError::ZeroLength {
            path: path.to_path_buf(),
            what: "image",
            unit: "pixels",
        });
    }
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(MediaError::TooManyPixels {
            path: path.to_path_buf(),
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    // A damaged EXIF block should not cost the user their image.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(map_err)?;
    img.apply_orientation(orientation);
    Ok(fit_within(img.into_rgb8(), limits.max_side))
}

fn image_error(path: &Path, kind: ImageKind, e: ImageError) -> MediaError {
    match e {
        ImageError::Unsupported(u) => MediaError::Unsupported {
            path: path.to_path_buf(),
            what: format!("this {} variant ({u})", kind.name()),
        },
        ImageError::Limits(l) => MediaError::corrupt(
            path,
            kind.name(),
            format!("decoding would exceed the memory limit ({l})"),
        ),
        ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            MediaError::corrupt(path, kind.name(), "file ends early (truncated)")
        }
        other => MediaError::corrupt(path, kind.name(), other),
    }
}
