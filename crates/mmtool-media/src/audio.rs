use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use rubato::{FftFixedIn, Resampler};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::sniff::{sniff_bytes, MediaKind};
use crate::{guard, read_limited, Limits, MediaError};

/// Mono audio samples in `[-1, 1]` at `sample_rate`.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub duration_s: f32,
}

impl Audio {
    pub fn new(samples: Vec<f32>, sample_rate: u32) -> Self {
        let duration_s = if sample_rate == 0 {
            0.0
        } else {
            samples.len() as f32 / sample_rate as f32
        };
        Audio {
            samples,
            sample_rate,
            duration_s,
        }
    }

    /// The first `seconds` of the clip (all of it when shorter). This is the
    /// rule for encoders with a fixed window (Whisper: 30 s): they encode the
    /// start of a longer clip, where a request's content usually is.
    pub fn head(&self, seconds: f32) -> Audio {
        let n = self.frames_for(seconds).min(self.samples.len());
        Audio::new(self.samples[..n].to_vec(), self.sample_rate)
    }

    /// The clip cut into consecutive windows of `seconds` (the last one may be
    /// shorter), for encoders that embed every window and pool the results.
    /// A clip no longer than one window gives one chunk; an empty clip none.
    pub fn chunks(&self, seconds: f32) -> Vec<Audio> {
        let n = self.frames_for(seconds).max(1);
        self.samples
            .chunks(n)
            .map(|c| Audio::new(c.to_vec(), self.sample_rate))
            .collect()
    }

    fn frames_for(&self, seconds: f32) -> usize {
        (f64::from(seconds.max(0.0)) * f64::from(self.sample_rate)).round() as usize
    }
}

/// Decodes WAV, FLAC, MP3, Ogg Vorbis or AAC (M4A/ADTS) to mono at `target_sr`.
///
/// The format comes from the content. Channels are averaged; the result is
/// resampled with a band-limited FFT resampler (`rubato`). The whole clip is
/// returned: clips over `limits.max_duration_s` are refused (from the header
/// when it states a length, otherwise as soon as decoding passes the limit);
/// use [`Audio::head`] / [`Audio::chunks`] to fit an encoder window. An MP4
/// video is accepted too: its audio track is decoded. A stream that stops
/// well short of the length its header promises is reported as truncated.
pub fn decode_audio(path: &Path, target_sr: u32, limits: &Limits) -> Result<Audio, MediaError> {
    if target_sr == 0 {
        return Err(MediaError::Unsupported {
            path: path.to_path_buf(),
            what: "a target sample rate of 0 Hz".to_string(),
        });
    }
    let bytes = read_limited(path, limits)?;
    let kind = sniff_bytes(&bytes).map_err(|e| e.into_error(path))?;
    if let MediaKind::Image(_) = kind {
        return Err(MediaError::WrongKind {
            path: path.to_path_buf(),
            expected: "audio",
            found: kind.to_string(),
        });
    }
    let bytes: Arc<[u8]> = bytes.into();
    let audio = guard(path, kind.format_name(), || {
        decode_audio_bytes(path, bytes, kind, target_sr, limits)
    })?;
    audio.ok_or_else(|| MediaError::ZeroLength {
        path: path.to_path_buf(),
        what: "video",
        unit: "audio track",
    })
}

/// Decodes the first audio track of `bytes`; `Ok(None)` when there is none.
pub(crate) fn decode_audio_bytes(
    path: &Path,
    bytes: Arc<[u8]>,
    kind: MediaKind,
    target_sr: u32,
    limits: &Limits,
) -> Result<Option<Audio>, MediaError> {
    let fmt = kind.format_name();
    let corrupt = |detail: String| MediaError::corrupt(path, fmt, detail);
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    // Hint with the sniffed format, not the file name: content wins.
    hint.with_extension(kind.extension());
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymError::Unsupported(what) => MediaError::Unsupported {
                path: path.to_path_buf(),
                what: format!("this {fmt} variant ({what})"),
            },
            other => corrupt(sym_detail(&other)),
        })?;
    let mut format = probed.format;
    let Some(track) = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
    else {
        return if matches!(kind, MediaKind::Video(_)) {
            Ok(None)
        } else {
            Err(MediaError::ZeroLength {
                path: path.to_path_buf(),
                what: "file",
                unit: "decodable audio track",
            })
        };
    };
    let track_id = track.id;
    let params = track.codec_params.clone();
    let source_sr = params.sample_rate.unwrap_or(0);
    if source_sr == 0 {
        return Err(corrupt("sample rate is 0 Hz".to_string()));
    }
    let promised_frames = params.n_frames;
    if let Some(n) = promised_frames {
        let duration_s = n as f32 / source_sr as f32;
        if duration_s > limits.max_duration_s {
            return Err(MediaError::TooLong {
                path: path.to_path_buf(),
                duration_s,
                limit_s: limits.max_duration_s,
            });
        }
    }
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| MediaError::Unsupported {
            path: path.to_path_buf(),
            what: format!("the audio codec in this {fmt} file ({})", sym_detail(&e)),
        })?;

    let max_frames = (f64::from(limits.max_duration_s) * f64::from(source_sr)).ceil() as usize;
    let mut mono: Vec<f32> = Vec::new();
    let mut good_packets = 0usize;
    let mut last_error: Option<String> = None;
    let mut scratch: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // Symphonia reports the end of the stream as an unexpected EOF.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                last_error = Some(sym_detail(&e));
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged packet: skip it, as players do, but remember why.
            Err(SymError::DecodeError(e)) => {
                last_error = Some(e.to_string());
                continue;
            }
            Err(SymError::IoError(e)) => {
                last_error = Some(e.to_string());
                break;
            }
            Err(e) => return Err(corrupt(sym_detail(&e))),
        };
        good_packets += 1;
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let needed = decoded.capacity() as u64;
        let buf = match &mut scratch {
            Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
            _ => scratch.insert(SampleBuffer::new(needed, spec)),
        };
        buf.copy_interleaved_ref(decoded);
        mono.extend(
            buf.samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if mono.len() > max_frames {
            return Err(MediaError::TooLong {
                path: path.to_path_buf(),
                duration_s: mono.len() as f32 / source_sr as f32,
                limit_s: limits.max_duration_s,
            });
        }
    }
    if mono.is_empty() {
        return Err(match last_error {
            Some(e) if good_packets == 0 => corrupt(e),
            _ => MediaError::ZeroLength {
                path: path.to_path_buf(),
                what: "audio stream",
                unit: "samples",
            },
        });
    }
    if let Some(promised) = promised_frames {
        // Codec priming/padding makes small differences normal; a tenth of a
        // second or 2% short (whichever is more) means the file was cut off.
        let tolerance = (source_sr as u64 / 10).max(promised / 50);
        if (mono.len() as u64) + tolerance < promised {
            return Err(corrupt(format!(
                "truncated: the header promises {:.2} s, only {:.2} s is present",
                promised as f32 / source_sr as f32,
                mono.len() as f32 / source_sr as f32
            )));
        }
    }
    let samples = resample(&mono, source_sr, target_sr).map_err(corrupt)?;
    Ok(Some(Audio::new(samples, target_sr)))
}

fn sym_detail(e: &SymError) -> String {
    match e {
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            "file ends early (truncated)".to_string()
        }
        other => other.to_string(),
    }
}

/// Resamples mono `samples` from `from` Hz to `to` Hz. The output has
/// `round(len * to / from)` samples, aligned with the input (the resampler's
/// delay is removed).
pub(crate) fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to || samples.is_empty() {
        return Ok(samples.to_vec());
    }
    const CHUNK: usize = 1024;
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, CHUNK, 2, 1)
        .map_err(|e| format!("cannot resample {from} Hz to {to} Hz: {e}"))?;
    let err = |e: rubato::ResampleError| format!("resampling failed: {e}");
    let delay = r.output_delay();
    let expected =
        ((samples.len() as u64 * u64::from(to) + u64::from(from) / 2) / u64::from(from)) as usize;
    let mut out = Vec::with_capacity(expected + delay + 2 * CHUNK);
    let mut pos = 0;
    while samples.len() - pos >= r.input_frames_next() {
        let n = r.input_frames_next();
        let o = r.process(&[&samples[pos..pos + n]], None).map_err(err)?;
        out.extend_from_slice(&o[0]);
        pos += n;
    }
    if pos < samples.len() {
        let o = r
            .process_partial(Some(&[&samples[pos..]]), None)
            .map_err(err)?;
        out.extend_from_slice(&o[0]);
    }
    // Push zeros through until the delayed tail of the signal has come out.
    while out.len() < expected + delay {
        let o = r.process_partial::<&[f32]>(None, None).map_err(err)?;
        if o[0].is_empty() {
            break;
        }
        out.extend_from_slice(&o[0]);
    }
    out.drain(..delay.min(out.len()));
    out.resize(expected, 0.0);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, sr: u32, secs: f32) -> Vec<f32> {
        (0..(sr as f32 * secs) as usize)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / sr as f32).sin() * 0.5)
            .collect()
    }

    /// Frequency estimate from zero crossings: robust enough to tell whether
    /// resampling kept the pitch.
    fn zero_crossing_freq(x: &[f32], sr: u32) -> f32 {
        let crossings = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        crossings as f32 * sr as f32 / x.len() as f32
    }

    #[test]
    fn resample_keeps_pitch_length_and_alignment() {
        let x = sine(440.0, 44_100, 2.0);
        let y = resample(&x, 44_100, 16_000).unwrap();
        assert_eq!(y.len(), 32_000);
        let f = zero_crossing_freq(&y[1000..31_000], 16_000);
        assert!((f - 440.0).abs() < 3.0, "pitch moved to {f} Hz");
        // Aligned: the first samples follow sin(), not the resampler's delay.
        let want = (2.0 * std::f32::consts::PI * 440.0 * 100.0 / 16_000.0).sin() * 0.5;
        assert!((y[100] - want).abs() < 0.05, "{} vs {want}", y[100]);
        let up = resample(&sine(300.0, 8_000, 1.0), 8_000, 16_000).unwrap();
        assert_eq!(up.len(), 16_000);
        assert!((zero_crossing_freq(&up[500..15_500], 16_000) - 300.0).abs() < 3.0);
        assert_eq!(
            resample(&x[..10], 44_100, 44_100).unwrap(),
            x[..10].to_vec()
        );
    }

    #[test]
    fn head_and_chunks_cover_the_clip() {
        let a = Audio::new((0..100).map(|i| i as f32).collect(), 10);
        assert_eq!(a.duration_s, 10.0);
        let h = a.head(3.0);
        assert_eq!(h.samples, (0..30).map(|i| i as f32).collect::<Vec<_>>());
        assert_eq!(h.duration_s, 3.0);
        assert_eq!(a.head(60.0).samples.len(), 100);
        let c = a.chunks(3.0);
        assert_eq!(
            c.iter().map(|c| c.samples.len()).collect::<Vec<_>>(),
            vec![30, 30, 30, 10]
        );
        assert_eq!(c.concat_samples(), a.samples);
        assert!(Audio::new(vec![], 16_000).chunks(30.0).is_empty());
    }

    trait Concat {
        fn concat_samples(&self) -> Vec<f32>;
    }
    impl Concat for Vec<Audio> {
        fn concat_samples(&self) -> Vec<f32> {
            self.iter()
                .flat_map(|a| a.samples.iter().copied())
                .collect()
        }
    }
}
