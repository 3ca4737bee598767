mod fixtures;

use fixtures::*;
use image::ImageFormat;
use mmtool_media::{decode_image, sniff, ImageKind, Limits, MediaError, MediaKind};

#[test]
fn decodes_every_supported_image_format() {
    let dir = tempfile::tempdir().unwrap();
    let img = halves(64, 48);
    for (fmt, kind, name) in [
        (ImageFormat::Jpeg, ImageKind::Jpeg, "a.jpg"),
        (ImageFormat::Png, ImageKind::Png, "a.png"),
        (ImageFormat::WebP, ImageKind::WebP, "a.webp"),
        (ImageFormat::Gif, ImageKind::Gif, "a.gif"),
        (ImageFormat::Bmp, ImageKind::Bmp, "a.bmp"),
    ] {
        let p = write_image(dir.path(), name, &img, fmt);
        assert_eq!(sniff(&p).unwrap(), MediaKind::Image(kind));
        let out = decode_image(&p, &Limits::default()).unwrap();
        assert_eq!(out.dimensions(), (64, 48), "{name}");
        let left = out.get_pixel(5, 24);
        let right = out.get_pixel(58, 24);
        assert!(left[0] > 180 && left[2] < 80, "{name}: left {left:?}");
        assert!(right[2] > 180 && right[0] < 80, "{name}: right {right:?}");
    }
}

#[test]
fn gif_gives_its_first_frame() {
    use image::codecs::gif::GifEncoder;
    use image::{Delay, Frame, Rgba, RgbaImage};
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("anim.gif");
    let file = std::fs::File::create(&p).unwrap();
    let mut enc = GifEncoder::new(file);
    for color in [[250, 0, 0, 255], [0, 250, 0, 255]] {
        let frame = RgbaImage::from_pixel(16, 16, Rgba(color));
        enc.encode_frame(Frame::from_parts(
            frame,
            0,
            0,
            Delay::from_numer_denom_ms(100, 1),
        ))
        .unwrap();
    }
    drop(enc);
    let out = decode_image(&p, &Limits::default()).unwrap();
    let px = out.get_pixel(8, 8);
    assert!(px[0] > 200 && px[1] < 50, "first frame is red, got {px:?}");
}

#[test]
fn applies_exif_orientation() {
    let dir = tempfile::tempdir().unwrap();
    // Orientation 6: the camera was turned; display rotated 90 degrees clockwise,
    // so the left (red) half ends up on top.
    let p = jpeg_with_orientation(dir.path(), "rot.jpg", &halves(40, 20), 6);
    let out = decode_image(&p, &Limits::default()).unwrap();
    assert_eq!(out.dimensions(), (20, 40));
    let top = out.get_pixel(10, 5);
    let bottom = out.get_pixel(10, 35);
    assert!(top[0] > 180 && top[2] < 80, "top {top:?}");
    assert!(bottom[2] > 180 && bottom[0] < 80, "bottom {bottom:?}");
    // Orientation 1 leaves it alone.
    let p = jpeg_with_orientation(dir.path(), "upright.jpg", &halves(40, 20), 1);
    assert_eq!(
        decode_image(&p, &Limits::default()).unwrap().dimensions(),
        (40, 20)
    );
}

#[test]
fn downscales_large_images_and_refuses_huge_ones() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_image(dir.path(), "big.png", &halves(2000, 1000), ImageFormat::Png);
    let out = decode_image(&p, &Limits::default()).unwrap();
    assert_eq!(out.dimensions(), (1024, 512));

    let limits = Limits {
        max_pixels: 1_999_999,
        ..Limits::default()
    };
    let err = decode_image(&p, &limits).unwrap_err();
    assert!(
        matches!(
            err,
            MediaError::TooManyPixels {
                width: 2000,
                height: 1000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("big.png"), "{err}");
}

#[test]
fn refuses_gigapixel_header_without_allocating() {
    // A PNG header claiming 100000 x 100000 pixels with no pixel data: the
    // refusal must come from the header, not from an attempted 30 GB buffer.
    let dir = tempfile::tempdir().unwrap();
    let img = halves(4, 4);
    let p = write_image(dir.path(), "tiny.png", &img, ImageFormat::Png);
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bytes[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    // Fix the IHDR CRC so the decoder accepts the header.
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, bytes).unwrap();
    let err = decode_image(&huge, &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::TooManyPixels { .. }), "{err}");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn content_wins_over_extension_and_wrong_kind_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_image(
        dir.path(),
        "really_png.jpg",
        &halves(8, 8),
        ImageFormat::Png,
    );
    assert_eq!(
        decode_image(&p, &Limits::default()).unwrap().dimensions(),
        (8, 8)
    );

    let wav = write_wav(dir.path(), "sound.png", 16_000, 1, 0.1, 440.0);
    let err = decode_image(&wav, &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::WrongKind { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("sound.png") && msg.contains("audio (WAV)"),
        "{msg}"
    );
}
