//! Uploaded media: what kind of file it is (by its bytes, never by its name)
//! and whether it can be read at all.

use std::fs::File;
use std::path::Path;

use axum::http::StatusCode;
use mmtool_data::Modality;
use serde::Serialize;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use utoipa::ToSchema;

use crate::error::ApiError;

/// How many leading bytes are kept for content sniffing; every signature
/// `infer` knows lies well within this.
pub const SNIFF_LEN: usize = 8192;

/// What the server found out about an uploaded file.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MediaInfo {
    /// `image`, `audio` or `video`, from the file's content.
    #[schema(value_type = String, example = "image")]
    pub modality: Modality,
    /// MIME type detected from the content, e.g. `image/png`.
    pub mime: String,
    pub bytes: u64,
    /// Image width and height, when an image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<[u32; 2]>,
    /// Audio sample rate, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Audio/video duration in seconds, when the container says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_s: Option<f64>,
}

/// The modality and MIME type of a file from its first bytes.
pub fn sniff(head: &[u8]) -> Result<(Modality, &'static str), ApiError> {
    let Some(kind) = infer::get(head) else {
        return Err(unsupported(
            "the uploaded file is not a recognised image, audio or video format \
             (its content was checked, not its name); send e.g. PNG, JPEG, WAV, MP3, FLAC or MP4",
        ));
    };
    let modality = match kind.matcher_type() {
        infer::MatcherType::Image => Modality::Image,
        infer::MatcherType::Audio => Modality::Audio,
        infer::MatcherType::Video => Modality::Video,
        _ => {
            return Err(unsupported(format!(
                "the uploaded file is {} ({}), not an image, audio recording or video",
                kind.mime_type(),
                kind.extension()
            )))
        }
    };
    Ok((modality, kind.mime_type()))
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media",
        message,
    )
}

fn corrupt(mime: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "corrupt_media",
        format!("the uploaded file looks like {mime} but cannot be read: {why}"),
    )
}

/// Opens the file with the decoders the encoders use and checks that its
/// headers (and, for audio, the first packet) decode. Blocking: run it off
/// the async threads.
pub fn inspect(
    path: &Path,
    modality: Modality,
    mime: &str,
    bytes: u64,
) -> Result<MediaInfo, ApiError> {
    let mut info = MediaInfo {
        modality,
        mime: mime.to_string(),
        bytes,
        dimensions: None,
        sample_rate: None,
        duration_s: None,
    };
    match modality {
        Modality::Image => {
            let reader = image::ImageReader::open(path)
                .and_then(|r| r.with_guessed_format())
                .map_err(|e| ApiError::internal(format!("cannot reopen the uploaded file: {e}")))?;
            if reader.format().is_none() {
                return Err(unsupported(format!(
                    "{mime} images cannot be decoded here; send PNG, JPEG, GIF, WebP, BMP or TIFF"
                )));
            }
            let (w, h) = reader.into_dimensions().map_err(|e| corrupt(mime, e))?;
            if w == 0 || h == 0 {
                return Err(corrupt(mime, format!("the image is {w}x{h} pixels")));
            }
            info.dimensions = Some([w, h]);
        }
        Modality::Audio => {
            let track = probe(path, mime).map_err(|e| match e {
                SymError::Unsupported(what) => {
                    unsupported(format!("{mime} audio cannot be decoded here ({what})"))
                }
                other => corrupt(mime, other),
            })?;
            info.sample_rate = track.sample_rate;
            info.duration_s = track.duration_s;
        }
        Modality::Video => {
            // Only the container is checked: the demuxer exposes video tracks
            // without decoding them, and formats it cannot demux at all (AVI,
            // FLV, WMV, MPEG-PS) are passed on as sniffed.
            if matches!(
                mime,
                "video/mp4" | "video/x-m4v" | "video/quicktime" | "video/x-matroska" | "video/webm"
            ) {
                let track = probe_container(path, mime).map_err(|e| corrupt(mime, e))?;
                info.duration_s = track.duration_s;
            }
        }
        Modality::Text => unreachable!("sniff never reports text"),
    }
    Ok(info)
}

struct TrackInfo {
    sample_rate: Option<u32>,
    duration_s: Option<f64>,
}

fn open_format(
    path: &Path,
    mime: &str,
) -> Result<Box<dyn symphonia::core::formats::FormatReader>, SymError> {
    let file = File::open(path)?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.mime_type(mime);
    let probed = symphonia::default::get_probe().format(
        &hint,
        mss,
        &FormatOptions::default(),
        &MetadataOptions::default(),
    )?;
    Ok(probed.format)
}

fn probe_container(path: &Path, mime: &str) -> Result<TrackInfo, SymError> {
    let format = open_format(path, mime)?;
    let duration_s = format.tracks().iter().find_map(|t| {
        let p = &t.codec_params;
        Some(p.time_base?.calc_time(p.n_frames?)).map(|t| t.seconds as f64 + t.frac)
    });
    Ok(TrackInfo {
        sample_rate: None,
        duration_s,
    })
}

fn probe(path: &Path, mime: &str) -> Result<TrackInfo, SymError> {
    let mut format = open_format(path, mime)?;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(SymError::DecodeError("no audio track"))?
        .clone();
    let mut decoder =
        symphonia::default::get_codecs().make(&track.codec_params, &DecoderOptions::default())?;
    // One decoded packet shows the stream is more than a valid header.
    loop {
        let packet = format.next_packet()?;
        if packet.track_id() != track.id {
            continue;
        }
        decoder.decode(&packet)?;
        break;
    }
    let p = &track.codec_params;
    let duration_s = p
        .time_base
        .zip(p.n_frames)
        .map(|(tb, n)| tb.calc_time(n))
        .map(|t| t.seconds as f64 + t.frac);
    Ok(TrackInfo {
        sample_rate: p.sample_rate,
        duration_s,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A valid 16-bit mono PCM WAV of `n` samples of a 440 Hz tone.
    pub fn wav(n: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..n)
            .flat_map(|i| {
                let s =
                    ((i as f32 * 440.0 * std::f32::consts::TAU / 16000.0).sin() * 8000.0) as i16;
                s.to_le_bytes()
            })
            .collect();
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&1u16.to_le_bytes()); // PCM
        v.extend_from_slice(&1u16.to_le_bytes()); // mono
        v.extend_from_slice(&16000u32.to_le_bytes());
        v.extend_from_slice(&32000u32.to_le_bytes());
        v.extend_from_slice(&2u16.to_le_bytes());
        v.extend_from_slice(&16u16.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(&data);
        v
    }

    pub fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    }

    fn inspect_bytes(bytes: &[u8]) -> Result<MediaInfo, ApiError> {
        let (m, mime) = sniff(&bytes[..bytes.len().min(SNIFF_LEN)])?;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        inspect(f.path(), m, mime, bytes.len() as u64)
    }

    #[test]
    fn valid_image_and_audio_are_read() {
        let img = inspect_bytes(&png(7, 5)).unwrap();
        assert_eq!(
            (img.modality, img.mime.as_str(), img.dimensions),
            (Modality::Image, "image/png", Some([7, 5]))
        );
        let snd = inspect_bytes(&wav(16000)).unwrap();
        assert_eq!(snd.modality, Modality::Audio);
        assert_eq!(snd.sample_rate, Some(16000));
        assert!((snd.duration_s.unwrap() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn content_not_name_decides_and_bad_files_are_refused() {
        let e = inspect_bytes(b"%PDF-1.7 not an image at all").unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media")
        );
        assert!(e.message.contains("application/pdf"), "{}", e.message);
        let e = inspect_bytes(b"just some words").unwrap_err();
        assert_eq!(e.code, "unsupported_media");

        // Right magic bytes, garbage after them.
        let mut bad_png = png(4, 4)[..8].to_vec();
        bad_png.extend_from_slice(&[0xAB; 64]);
        let e = inspect_bytes(&bad_png).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::UNPROCESSABLE_ENTITY, "corrupt_media")
        );
        assert!(e.message.contains("image/png"), "{}", e.message);

        let mut bad_wav = wav(100)[..12].to_vec();
        bad_wav.extend_from_slice(&[0x11; 40]);
        let e = inspect_bytes(&bad_wav).unwrap_err();
        assert_eq!(e.code, "corrupt_media", "{}", e.message);

        // An MP4 signature with no boxes behind it.
        let mut bad_mp4 = vec![0, 0, 0, 0x18];
        bad_mp4.extend_from_slice(b"ftypisom\0\0\0\0isommp41");
        bad_mp4.extend_from_slice(&[0xFF; 32]);
        let e = inspect_bytes(&bad_mp4).unwrap_err();
        assert_eq!(e.code, "corrupt_media", "{}", e.message);
    }
}
