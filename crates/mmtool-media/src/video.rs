use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use image::RgbImage;
use mp4::{MediaType, Mp4Reader, Mp4Track, TrackType};
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;

use crate::audio::{decode_audio_bytes, Audio};
use crate::sniff::{sniff_bytes, MediaKind};
use crate::{fit_within, guard, read_limited, Limits, MediaError};

/// Frames sampled from a video clip, with the clip's audio track.
#[derive(Debug, Clone, PartialEq)]
pub struct Video {
    /// `n_frames` frames, in display order.
    pub frames: Vec<RgbImage>,
    /// Presentation time of each frame, in seconds from the first frame.
    pub timestamps_s: Vec<f32>,
    /// The first audio track, mono at the requested rate; `None` if the clip
    /// has no (decodable) audio track.
    pub audio: Option<Audio>,
    pub duration_s: f32,
}

const FORMAT: &str = "MP4";

/// Decodes an MP4 (H.264) clip into `n_frames` frames spread evenly over it,
/// plus its audio track (AAC etc., resampled to mono `audio_sr`).
///
/// Frame `i` is the one shown at the middle of the `i`-th of `n_frames` equal
/// slices of the clip, so a 10 s clip sampled at 8 frames gives the frames at
/// 0.625 s, 1.875 s, ... A clip with fewer frames than asked repeats frames, so
/// callers always get exactly `n_frames`. Frames are downscaled to
/// `limits.max_side`. H.264 is decoded with OpenH264 (Cisco's decoder, built
/// from source by the `openh264` crate); other video codecs are refused with
/// [`MediaError::Unsupported`].
pub fn decode_video(
    path: &Path,
    n_frames: usize,
    audio_sr: u32,
    limits: &Limits,
) -> Result<Video, MediaError> {
    let bytes = read_limited(path, limits)?;
    let kind = sniff_bytes(&bytes).map_err(|e| e.into_error(path))?;
    if !matches!(kind, MediaKind::Video(_)) {
        return Err(MediaError::WrongKind {
            path: path.to_path_buf(),
            expected: "a video",
            found: kind.to_string(),
        });
    }
    let bytes: Arc<[u8]> = bytes.into();
    let (frames, timestamps_s, duration_s) = guard(path, FORMAT, || {
        decode_frames(path, &bytes, n_frames, limits)
    })?;
    let audio = if audio_sr == 0 {
        None
    } else {
        guard(path, FORMAT, || {
            decode_audio_bytes(path, bytes.clone(), kind, audio_sr, limits)
        })?
    };
    Ok(Video {
        frames,
        timestamps_s,
        audio,
        duration_s,
    })
}

type Frames = (Vec<RgbImage>, Vec<f32>, f32);

fn decode_frames(
    path: &Path,
    bytes: &[u8],
    n_frames: usize,
    limits: &Limits,
) -> Result<Frames, MediaError> {
    let corrupt = |detail: String| MediaError::corrupt(path, FORMAT, detail);
    let mut mp4 = Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| corrupt(e.to_string()))?;
    let track = pick_video_track(path, &mp4)?;
    let track_id = track.track_id();
    let timescale = f64::from(track.timescale().max(1));
    let (width, height) = (u32::from(track.width()), u32::from(track.height()));
    if u64::from(width) * u64::from(height) > limits.max_pixels {
        return Err(MediaError::TooManyPixels {
            path: path.to_path_buf(),
            width,
            height,
            limit: limits.max_pixels,
        });
    }
    let header_duration = track.duration().as_secs_f32();
    if header_duration > limits.max_duration_s {
        return Err(MediaError::TooLong {
            path: path.to_path_buf(),
            duration_s: header_duration,
            limit_s: limits.max_duration_s,
        });
    }
    let mut converter = AnnexB::for_track(track).map_err(corrupt)?;
    let sample_count = track.sample_count();
    if sample_count == 0 {
        return Err(MediaError::ZeroLength {
            path: path.to_path_buf(),
            what: "video track",
            unit: "frames",
        });
    }

    // Display times of every sample; the decoder emits frames in display order,
    // so the k-th frame out is the one with the k-th smallest time.
    let mut samples = Vec::with_capacity(sample_count as usize);
    for i in 1..=sample_count {
        match mp4.read_sample(track_id, i) {
            Ok(Some(s)) => samples.push(s),
            Ok(None) => break,
            Err(e) => return Err(corrupt(format!("sample {i}: {e}"))),
        }
    }
    let mut pts: Vec<i64> = samples
        .iter()
        .map(|s| s.start_time as i64 + i64::from(s.rendering_offset))
        .collect();
    pts.sort_unstable();
    let first_pts = pts.first().copied().unwrap_or(0);
    let last = samples
        .last()
        .map(|s| s.start_time + u64::from(s.duration))
        .unwrap_or(0);
    let duration_s = if header_duration > 0.0 {
        header_duration
    } else {
        (last as f64 / timescale) as f32
    };

    let targets = even_targets(samples.len(), n_frames);
    let Some(&last_target) = targets.last() else {
        return Ok((Vec::new(), Vec::new(), duration_s));
    };
    // Frames we keep, by display index; a target index may repeat.
    let mut kept: Vec<Option<RgbImage>> = vec![None; last_target + 1];
    let wanted = |k: usize| targets.binary_search(&k).is_ok();

    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| corrupt(format!("cannot start the H.264 decoder: {e}")))?;
    let mut shown = 0usize;
    let mut packet = Vec::new();
    let mut last_error = None;
    let max_side = limits.max_side;
    let take = |yuv: &DecodedYUV<'_>, shown: &mut usize, kept: &mut Vec<Option<RgbImage>>| {
        if *shown <= last_target && wanted(*shown) {
            kept[*shown] = Some(fit_within(to_rgb(yuv), max_side));
        }
        *shown += 1;
    };
    for (i, sample) in samples.iter().enumerate() {
        if shown > last_target {
            break;
        }
        converter
            .convert(&sample.bytes, &mut packet)
            .map_err(|e| corrupt(format!("sample {}: {e}", i + 1)))?;
        match decoder.decode(&packet) {
            Ok(Some(yuv)) => take(&yuv, &mut shown, &mut kept),
            Ok(None) => {}
            // A broken slice: the decoder conceals it and carries on.
            Err(e) => last_error = Some(format!("sample {}: {e}", i + 1)),
        }
    }
    if shown <= last_target {
        let rest = decoder
            .flush_remaining()
            .map_err(|e| corrupt(format!("flushing the decoder: {e}")))?;
        for yuv in &rest {
            take(yuv, &mut shown, &mut kept);
        }
    }
    if shown == 0 {
        return Err(corrupt(last_error.unwrap_or_else(|| {
            "the H.264 stream produced no pictures".to_string()
        })));
    }
    // If fewer pictures came out than samples went in (dropped broken frames),
    // fall back to the nearest earlier decoded frame.
    let mut frames = Vec::with_capacity(targets.len());
    let mut times = Vec::with_capacity(targets.len());
    for &t in &targets {
        let Some(k) = (0..=t.min(shown - 1))
            .rev()
            .find(|&k| kept.get(k).is_some_and(Option::is_some))
        else {
            return Err(corrupt(format!("frame {t} could not be decoded")));
        };
        frames.push(kept[k].clone().expect("checked above"));
        times.push(((pts[k] - first_pts) as f64 / timescale) as f32);
    }
    Ok((frames, times, duration_s))
}

fn pick_video_track<'a>(
    path: &Path,
    mp4: &'a Mp4Reader<Cursor<&[u8]>>,
) -> Result<&'a Mp4Track, MediaError> {
    let mut other = None;
    let mut ids: Vec<_> = mp4.tracks().keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let track = &mp4.tracks()[&id];
        if !matches!(track.track_type(), Ok(TrackType::Video)) {
            continue;
        }
        match track.media_type() {
            Ok(MediaType::H264) => return Ok(track),
            Ok(m) => other = Some(m.to_string()),
            Err(_) => other = Some(track.box_type().map(|b| b.to_string()).unwrap_or_default()),
        }
    }
    Err(match other {
        Some(codec) => MediaError::Unsupported {
            path: path.to_path_buf(),
            what: format!("video codec {codec:?} (only H.264 is decoded)"),
        },
        None => MediaError::ZeroLength {
            path: path.to_path_buf(),
            what: "MP4 file",
            unit: "H.264 video track",
        },
    })
}

/// Display indices of `n` frames spread evenly over `count`: the middle of
/// each of `n` equal slices. Sorted; repeats when `n > count`.
fn even_targets(count: usize, n: usize) -> Vec<usize> {
    if count == 0 {
        return Vec::new();
    }
    (0..n)
        .map(|i| (((2 * i + 1) * count) / (2 * n)).min(count - 1))
        .collect()
}

fn to_rgb(yuv: &DecodedYUV<'_>) -> RgbImage {
    let (w, h) = yuv.dimensions();
    let mut rgb = vec![0u8; w * h * 3];
    yuv.write_rgb8(&mut rgb);
    RgbImage::from_raw(w as u32, h as u32, rgb).expect("buffer sized w*h*3 above")
}

/// Rewrites MP4 samples (length-prefixed NAL units, parameter sets in the
/// `avcC` header) as the Annex B byte stream OpenH264 reads (start codes,
/// parameter sets in band).
struct AnnexB {
    length_size: usize,
    parameter_sets: Vec<u8>,
    sent_parameter_sets: bool,
}

impl AnnexB {
    fn for_track(track: &Mp4Track) -> Result<Self, String> {
        let avc1 = track
            .trak
            .mdia
            .minf
            .stbl
            .stsd
            .avc1
            .as_ref()
            .ok_or("H.264 track has no avc1 sample description")?;
        let avcc = &avc1.avcc;
        let mut parameter_sets = Vec::new();
        for nal in avcc
            .sequence_parameter_sets
            .iter()
            .chain(&avcc.picture_parameter_sets)
        {
            parameter_sets.extend_from_slice(&[0, 0, 0, 1]);
            parameter_sets.extend_from_slice(&nal.bytes);
        }
        let length_size = usize::from(avcc.length_size_minus_one & 0b11) + 1;
        if length_size == 3 {
            return Err("avcC declares 3-byte NAL lengths, which H.264 does not allow".into());
        }
        Ok(AnnexB {
            length_size,
            parameter_sets,
            sent_parameter_sets: false,
        })
    }

    fn convert(&mut self, sample: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        out.clear();
        if !self.sent_parameter_sets {
            out.extend_from_slice(&self.parameter_sets);
            self.sent_parameter_sets = true;
        }
        let mut rest = sample;
        while !rest.is_empty() {
            if rest.len() < self.length_size {
                return Err("NAL length field cut off".into());
            }
            let (len_bytes, tail) = rest.split_at(self.length_size);
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            if len > tail.len() {
                return Err(format!(
                    "NAL unit of {len} bytes overruns the sample ({} left)",
                    tail.len()
                ));
            }
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(&tail[..len]);
            rest = &tail[len..];
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_targets_are_slice_midpoints() {
        assert_eq!(even_targets(100, 4), vec![12, 37, 62, 87]);
        assert_eq!(even_targets(3, 6), vec![0, 0, 1, 1, 2, 2]);
        assert_eq!(even_targets(10, 1), vec![5]);
        assert!(even_targets(0, 4).is_empty());
        assert!(even_targets(10, 0).is_empty());
    }

    #[test]
    fn annex_b_conversion_and_bad_lengths() {
        let mut c = AnnexB {
            length_size: 4,
            parameter_sets: vec![0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x68],
            sent_parameter_sets: false,
        };
        let mut out = Vec::new();
        c.convert(&[0, 0, 0, 2, 0x65, 0xAA, 0, 0, 0, 1, 0x06], &mut out)
            .unwrap();
        assert_eq!(
            out,
            vec![0, 0, 0, 1, 0x67, 0, 0, 0, 1, 0x68, 0, 0, 0, 1, 0x65, 0xAA, 0, 0, 0, 1, 0x06]
        );
        c.convert(&[0, 0, 0, 1, 0x41], &mut out).unwrap();
        assert_eq!(out, vec![0, 0, 0, 1, 0x41], "parameter sets are sent once");
        assert!(c
            .convert(&[0, 0, 0, 9, 0x41], &mut out)
            .unwrap_err()
            .contains("overruns"));
        assert!(c
            .convert(&[0, 0], &mut out)
            .unwrap_err()
            .contains("cut off"));
    }
}
