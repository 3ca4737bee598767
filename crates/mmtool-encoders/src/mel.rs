//! Whisper's log-mel spectrogram: Slaney mel filterbank (as `librosa.filters.mel(norm="slaney")`,
//! which is what Whisper's `mel_filters.npz` holds), centred STFT with reflect padding and a
//! periodic Hann window (as `torch.stft(center=True)`), power spectrum, then
//! `log10(max(x, 1e-10))`, clamped to `max - 8`, scaled as `(x + 4) / 4`.
//!
//! The filterbank is computed here rather than downloaded so the only external input is the model.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

/// Sample rate Whisper expects.
pub const SAMPLE_RATE: usize = 16_000;
/// STFT size (25 ms).
pub const N_FFT: usize = 400;
/// STFT hop (10 ms).
pub const HOP_LENGTH: usize = 160;

// Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hertz to Slaney mel (librosa's `hz_to_mel(htk=False)`).
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz < MIN_LOG_HZ {
        hz / F_SP
    } else {
        MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step()
    }
}

/// Slaney mel to Hertz (librosa's `mel_to_hz(htk=False)`).
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel < MIN_LOG_MEL {
        mel * F_SP
    } else {
        MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp()
    }
}

/// Triangular mel filters from 0 Hz to Nyquist, area-normalised ("slaney"), row-major
/// `[n_mels, n_fft / 2 + 1]`.
pub fn mel_filters(sample_rate: usize, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let nyquist = sample_rate as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|i| i as f64 * nyquist / (n_bins - 1) as f64)
        .collect();
    let max_mel = hz_to_mel(nyquist);
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut weights = vec![0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let (lo, centre, hi) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
        let enorm = 2.0 / (hi - lo);
        for (b, &f) in fft_freqs.iter().enumerate() {
            let rising = (f - lo) / (centre - lo);
            let falling = (hi - f) / (hi - centre);
            weights[m * n_bins + b] = (rising.min(falling).max(0.0) * enorm) as f32;
        }
    }
    weights
}

/// Computes Whisper log-mel spectrograms; holds the filterbank, window and FFT plan.
#[derive(Clone)]
pub struct LogMel {
    n_mels: usize,
    filters: Vec<f32>,
    /// Per filter, the range of FFT bins with non-zero weight (most of the matrix is zero).
    support: Vec<std::ops::Range<usize>>,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel")
            .field("n_mels", &self.n_mels)
            .finish_non_exhaustive()
    }
}

impl LogMel {
    /// Whisper's front end with `n_mels` bins (80 for all Whisper models up to large-v2).
    pub fn new(n_mels: usize) -> Self {
        let n_bins = N_FFT / 2 + 1;
        let filters = mel_filters(SAMPLE_RATE, N_FFT, n_mels);
        let support = filters
            .chunks(n_bins)
            .map(|row| {
                let first = row.iter().position(|&w| w > 0.0).unwrap_or(0);
                let last = row.iter().rposition(|&w| w > 0.0).map_or(0, |i| i + 1);
                first..last.max(first)
            })
            .collect();
        // Periodic Hann, as torch.hann_window(400) which Whisper uses.
        let window = (0..N_FFT)
            .map(|i| {
                let x = 2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        Self {
            n_mels,
            filters,
            support,
            window,
            fft,
        }
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// The filterbank, row-major `[n_mels, N_FFT / 2 + 1]`.
    pub fn filters(&self) -> &[f32] {
        &self.filters
    }

    /// Log-mel spectrogram of `samples` (16 kHz mono), row-major `[n_mels, samples.len() / HOP_LENGTH]`.
    ///
    /// Frames are centred on multiples of the hop (reflect padding at both ends) and the frame
    /// that would start past the end is dropped, as Whisper does, so 30 s gives exactly 3000
    /// frames. Returns an error message if `samples` is too short to reflect-pad.
    pub fn compute(&self, samples: &[f32]) -> Result<Vec<f32>, String> {
        let pad = N_FFT / 2;
        if samples.len() <= pad {
            return Err(format!(
                "audio too short for the STFT: {} samples, need more than {pad}",
                samples.len()
            ));
        }
        let n_frames = samples.len() / HOP_LENGTH;
        let n = samples.len();
        // Reflect without repeating the edge sample (numpy/torch "reflect").
        let padded: Vec<f32> = (0..n + 2 * pad)
            .map(|i| {
                let j = i as isize - pad as isize;
                let j = if j < 0 {
                    -j
                } else if j >= n as isize {
                    2 * (n as isize - 1) - j
                } else {
                    j
                };
                samples[j as usize]
            })
            .collect();

        let n_bins = N_FFT / 2 + 1;
        let mut frame = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut power = vec![0f32; n_bins];
        let mut mel = vec![0f32; self.n_mels * n_frames];
        for t in 0..n_frames {
            let start = t * HOP_LENGTH;
            for ((dst, &x), &w) in frame
                .iter_mut()
                .zip(&padded[start..start + N_FFT])
                .zip(&self.window)
            {
                *dst = x * w;
            }
            self.fft
                .process_with_scratch(&mut frame, &mut spectrum, &mut scratch)
                .map_err(|e| format!("FFT failed: {e}"))?;
            for (p, c) in power.iter_mut().zip(&spectrum) {
                *p = c.norm_sqr();
            }
            for (m, range) in self.support.iter().enumerate() {
                let row = &self.filters[m * n_bins..(m + 1) * n_bins];
                let energy: f32 = row[range.clone()]
                    .iter()
                    .zip(&power[range.clone()])
                    .map(|(w, p)| w * p)
                    .sum();
                mel[m * n_frames + t] = energy.max(1e-10).log10();
            }
        }
        let max = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for v in mel.iter_mut() {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        Ok(mel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const N_BINS: usize = N_FFT / 2 + 1;

    #[test]
    fn mel_scale_round_trips_and_is_linear_below_1khz() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(200.0) - 3.0).abs() < 1e-12);
        // 6.4x in frequency above 1 kHz is 27 mels.
        assert!((hz_to_mel(6400.0) - 42.0).abs() < 1e-9);
        for hz in [0.0, 37.0, 999.0, 1000.0, 3000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }

    #[test]
    fn filterbank_matches_whisper_values_and_properties() {
        let f = mel_filters(SAMPLE_RATE, N_FFT, 80);
        assert_eq!(f.len(), 80 * N_BINS);
        assert!(f.iter().all(|&w| w >= 0.0));
        // Hand derivation of filter 0: edges at 0, 37.24 and 74.48 Hz (45.245 mel / 81 per band),
        // so the 40 Hz bin sits on the falling slope: (74.48 - 40) / 37.24 * 2 / 74.48 = 0.024863,
        // and the 0 Hz and 80 Hz bins lie outside the triangle.
        assert!((f[1] - 0.024_862_6).abs() < 2e-6, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        assert_eq!(f[2], 0.0);
        let mut last_peak = 0;
        for m in 0..80 {
            let row = &f[m * N_BINS..(m + 1) * N_BINS];
            let nz: Vec<usize> = (0..N_BINS).filter(|&b| row[b] > 0.0).collect();
            assert!(!nz.is_empty(), "filter {m} is empty");
            // Triangles: one contiguous run of non-zero weights, rising then falling.
            assert_eq!(
                nz.len(),
                nz[nz.len() - 1] - nz[0] + 1,
                "filter {m} has gaps"
            );
            let peak = (0..N_BINS)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .unwrap();
            assert!(row[nz[0]..=peak].windows(2).all(|w| w[0] <= w[1]));
            assert!(row[peak..].windows(2).all(|w| w[0] >= w[1]));
            assert!(peak >= last_peak, "peaks move up in frequency");
            last_peak = peak;
            // Slaney normalisation: each triangle has unit area in Hz, so wide filters (where the
            // 40 Hz grid samples the triangle well, from filter 41 up) sum to 1/40.
            if m >= 41 {
                let area: f32 = row.iter().sum::<f32>() * 40.0;
                assert!((area - 1.0).abs() < 0.025, "filter {m} area {area}");
            }
        }
    }

    #[test]
    fn log_mel_puts_a_tone_in_the_right_band_and_normalises() {
        let lm = LogMel::new(80);
        let hz = 1000.0;
        let samples: Vec<f32> = (0..SAMPLE_RATE)
            .map(|i| (2.0 * std::f32::consts::PI * hz * i as f32 / SAMPLE_RATE as f32).sin())
            .collect();
        let mel = lm.compute(&samples).unwrap();
        let n_frames = SAMPLE_RATE / HOP_LENGTH;
        assert_eq!(mel.len(), 80 * n_frames);
        let t = n_frames / 2;
        let band = (0..80)
            .max_by(|&a, &b| mel[a * n_frames + t].total_cmp(&mel[b * n_frames + t]))
            .unwrap();
        let f = lm.filters();
        let expected = (0..80)
            .max_by(|&a, &b| f[a * N_BINS + 25].total_cmp(&f[b * N_BINS + 25]))
            .unwrap();
        assert_eq!(band, expected, "1 kHz is FFT bin 25");
        let max = mel.iter().copied().fold(f32::MIN, f32::max);
        let min = mel.iter().copied().fold(f32::MAX, f32::min);
        // The dynamic range is clamped to 8 decades, i.e. 2.0 after the /4 scaling.
        assert!((max - min - 2.0).abs() < 1e-5, "{max} {min}");
    }

    #[test]
    fn frame_count_and_short_input() {
        let lm = LogMel::new(80);
        let mel = lm.compute(&vec![0.0; 480_000]).unwrap();
        assert_eq!(mel.len(), 80 * 3000);
        // All-silent input: log10(1e-10) everywhere, i.e. (-10 + 4) / 4.
        assert!(mel.iter().all(|&v| (v + 1.5).abs() < 1e-6));
        assert!(lm.compute(&[0.0; 200]).unwrap_err().contains("too short"));
    }
}
