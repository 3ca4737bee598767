//! From a user's file to what mmtool knows about it: the modality (sniffed
//! from the content), one embedding, and human-readable findings (ImageNet
//! labels, spoken language).
//!
//! Video rule: the mean of the EfficientNet embeddings of `VIDEO_FRAMES`
//! frames spread evenly over the clip (1280-d), concatenated with the Whisper
//! embedding of the audio track (512-d; zeros when the clip has no audio), so
//! a video embedding is always 1792-d. Audio longer than Whisper's 30 s
//! window is cut to its first 30 s.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use mmtool_data::Modality;
use mmtool_media::{decode_audio, decode_image, decode_video, sniff, Limits};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::efficientnet::EfficientNet;
use crate::whisper::Whisper;

/// Frames sampled from a video.
pub const VIDEO_FRAMES: usize = 8;
/// Whisper's sample rate.
pub const AUDIO_SR: u32 = 16_000;
/// Whisper's window, in seconds.
pub const AUDIO_WINDOW_S: f32 = 30.0;

/// Names everything that shapes a cached perception besides the file's bytes
/// (encoders, pooling rule, frame count, window). Change it when any of
/// those change, and old cache entries stop matching.
pub const PERCEPTION_VERSION: &str = "efficientnet-lite0+whisper-base/frames8/window30/v1";

/// Width of EfficientNet-Lite0's pooled image features.
pub const IMAGE_DIM: usize = 1280;
/// Width of Whisper-base's pooled audio features.
pub const AUDIO_DIM: usize = 512;
/// Width of the media feature the MLLM's projection reads: one layout for
/// every modality, `[image features | audio features]`, the part a file
/// does not have left at zero (a video fills both: its pooled frames and
/// its sound track). Plays the part of ImageBind's shared space in the
/// paper, so that one projection serves all modalities.
pub const MEDIA_DIM: usize = IMAGE_DIM + AUDIO_DIM;

/// How likely the top spoken language must be to widen the mllm backend's
/// shortlist with it ([`Perception::shortlist_hint`]). Not tuned: widening
/// only adds candidates, which the MLLM then weighs with the audio token.
pub const SHORTLIST_HINT_MIN_PROB: f32 = 0.3;

/// How sure Whisper must be of the spoken language for it to become part of
/// the request's text ([`Perception::text_hint`]). A wrong language picks a
/// wrong recogniser, which is worse than none: espeak-ng French came out as
/// Thai at 0.64, espeak-ng German as German at 0.83-0.93 (docs/whisper.md).
/// Not tuned on data: no labelled media requests exist here.
pub const HINT_MIN_PROB: f32 = 0.8;

/// What the encoders found in one file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Perception {
    pub modality: Modality,
    /// Container/codec family as sniffed from the content.
    pub format: String,
    pub embedding: Vec<f32>,
    /// ImageNet top-5 (images, and the middle frame of a video).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<(String, f32)>,
    /// Spoken-language guesses (audio, and a video's audio track).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<(String, f32)>,
    pub decode_ms: f64,
    pub encode_ms: f64,
    /// Read from the content-hash cache instead of encoded now (the timings
    /// are then those of the original run).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cached: bool,
}

impl Perception {
    /// The embedding in the [`MEDIA_DIM`] layout the MLLM's projection reads,
    /// each modality's part scaled to unit length.
    pub fn media_features(&self) -> Result<Vec<f32>> {
        let (offset, want) = match self.modality {
            Modality::Image => (0, IMAGE_DIM),
            Modality::Audio => (IMAGE_DIM, AUDIO_DIM),
            Modality::Video => (0, MEDIA_DIM),
            Modality::Text => anyhow::bail!("a text request has no media features"),
        };
        if self.embedding.len() != want {
            anyhow::bail!(
                "{} embedding has {} values, expected {want}",
                self.modality,
                self.embedding.len()
            );
        }
        let mut out = vec![0f32; MEDIA_DIM];
        out[offset..offset + want].copy_from_slice(&self.embedding);
        // Each part to unit length: EfficientNet's pooled features and
        // Whisper's differ in scale by an order of magnitude, and one
        // projection reads both; a video without sound keeps its zeros.
        let (image, audio) = out.split_at_mut(IMAGE_DIM);
        for part in [image, audio] {
            let n = part.iter().map(|x| x * x).sum::<f32>().sqrt();
            if n > 0.0 {
                part.iter_mut().for_each(|x| *x /= n);
            }
        }
        Ok(out)
    }

    /// Words for what the request's text leaves open, from the findings:
    /// the spoken language when Whisper is at least [`HINT_MIN_PROB`] sure
    /// of it (`"German audio"`), so that the text backends pick the German
    /// speech recogniser for "what is being said?". Images give none: an
    /// ImageNet guess says little about which tool fits.
    pub fn text_hint(&self) -> Option<String> {
        self.language_hint(HINT_MIN_PROB)
    }

    /// The likely spoken language in the same words, from
    /// [`SHORTLIST_HINT_MIN_PROB`] up: for widening a shortlist
    /// (`Query::shortlist_hint`), where a wrong guess costs only extra
    /// candidates for a stage that hears the audio itself.
    pub fn shortlist_hint(&self) -> Option<String> {
        self.language_hint(SHORTLIST_HINT_MIN_PROB)
    }

    fn language_hint(&self, min_prob: f32) -> Option<String> {
        if !matches!(self.modality, Modality::Audio | Modality::Video) {
            return None;
        }
        let (code, p) = self.languages.first()?;
        if *p < min_prob {
            return None;
        }
        let name = crate::whisper::language_name(code)?;
        Some(format!("{name} {}", self.modality.as_str()))
    }

    pub fn norm(&self) -> f32 {
        self.embedding.iter().map(|x| x * x).sum::<f32>().sqrt()
    }

    /// The findings shown to users next to a recommendation.
    pub fn findings(&self) -> serde_json::Value {
        serde_json::json!({
            "modality": self.modality,
            "format": self.format,
            "embedding_dim": self.embedding.len(),
            "labels": self.labels,
            "languages": self.languages,
        })
    }
}

/// Loads each encoder on first use and keeps it.
pub struct Perceiver {
    cache_dir: PathBuf,
    limits: Limits,
    image: OnceLock<EfficientNet>,
    audio: OnceLock<Whisper>,
    /// Content-hash cache of perceptions, when enabled.
    memo: Option<PathBuf>,
}

impl Perceiver {
    /// Encoders are read from `cache_dir/models/{efficientnet,whisper}`.
    pub fn new(cache_dir: PathBuf, limits: Limits) -> Self {
        Perceiver {
            cache_dir,
            limits,
            image: OnceLock::new(),
            audio: OnceLock::new(),
            memo: None,
        }
    }

    /// Keeps each file's perception in `dir`, keyed by the SHA-256 of its
    /// bytes and [`PERCEPTION_VERSION`], so a file is encoded once however
    /// often (and under whatever name) it is seen again.
    pub fn with_embedding_cache(mut self, dir: PathBuf) -> Self {
        self.memo = Some(dir);
        self
    }

    /// `<cache>/embeddings`, where the CLI keeps perceptions.
    pub fn default_embedding_cache() -> PathBuf {
        mmtool_data::cache_dir().join("embeddings")
    }

    /// The cache file for `path`'s content.
    fn memo_path(&self, path: &Path) -> Result<Option<PathBuf>> {
        let Some(dir) = &self.memo else {
            return Ok(None);
        };
        let mut f = std::fs::File::open(path)
            .with_context(|| format!("{}: cannot open media file", path.display()))?;
        let mut h = Sha256::new();
        h.update(PERCEPTION_VERSION.as_bytes());
        h.update([0u8]);
        std::io::copy(&mut f, &mut h)
            .with_context(|| format!("{}: cannot read media file", path.display()))?;
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        Ok(Some(dir.join(format!("{hex}.json"))))
    }

    /// Decodes and encodes one file, or reads its earlier result from the
    /// embedding cache. `expected`, when given, must match the sniffed
    /// modality (an `--image` flag on an audio file is an error).
    pub fn perceive(&self, path: &Path, expected: Option<Modality>) -> Result<Perception> {
        let kind = sniff(path)?;
        if let Some(e) = expected {
            if e != kind.modality() {
                anyhow::bail!(
                    "{}: given as {e}, but the content is {} ({})",
                    path.display(),
                    kind.modality(),
                    kind.format_name()
                );
            }
        }
        let memo = self.memo_path(path)?;
        if let Some(m) = &memo {
            // An unreadable or stale entry is only a lost shortcut: encode again.
            if let Ok(text) = std::fs::read_to_string(m) {
                match serde_json::from_str::<Perception>(&text) {
                    Ok(mut p) if p.modality == kind.modality() => {
                        p.cached = true;
                        return Ok(p);
                    }
                    _ => tracing::warn!(
                        "{}: unusable embedding cache entry, re-encoding",
                        m.display()
                    ),
                }
            }
        }
        let p = self.encode(path, expected)?;
        if let Some(m) = &memo {
            if let Err(e) = write_entry(m, &p) {
                tracing::warn!("{}: cannot write embedding cache entry: {e:#}", m.display());
            }
        }
        Ok(p)
    }

    /// The CLI's perceiver: models and the embedding cache under
    /// `$MMTOOL_CACHE`, default limits.
    pub fn with_default_caches() -> Self {
        Self::new(Self::default_cache_dir(), Limits::default())
            .with_embedding_cache(Self::default_embedding_cache())
    }

    /// `$MMTOOL_CACHE`, default `~/.cache/mmtool`.
    pub fn default_cache_dir() -> PathBuf {
        mmtool_data::cache_dir()
    }

    fn image_encoder(&self) -> Result<&EfficientNet> {
        if let Some(m) = self.image.get() {
            return Ok(m);
        }
        let m = EfficientNet::load(&self.cache_dir.join("models/efficientnet"))?;
        Ok(self.image.get_or_init(|| m))
    }

    fn audio_encoder(&self) -> Result<&Whisper> {
        if let Some(m) = self.audio.get() {
            return Ok(m);
        }
        let dir = self.cache_dir.join("models/whisper");
        let m = Whisper::load(&dir).with_context(|| {
            format!(
                "{}: cannot load Whisper; run `scripts/fetch-weights.sh whisper`",
                dir.display()
            )
        })?;
        Ok(self.audio.get_or_init(|| m))
    }

    fn encode(&self, path: &Path, expected: Option<Modality>) -> Result<Perception> {
        let kind = sniff(path)?;
        let modality = kind.modality();
        if let Some(e) = expected {
            if e != modality {
                anyhow::bail!(
                    "{}: given as {e}, but the content is {} ({})",
                    path.display(),
                    modality,
                    kind.format_name()
                );
            }
        }
        let t0 = Instant::now();
        let (embedding, labels, languages, decode_ms);
        match modality {
            Modality::Image => {
                let img = decode_image(path, &self.limits)?;
                decode_ms = ms(t0);
                let enc = self.image_encoder()?;
                embedding = enc.embed(&img)?;
                labels = enc.classify(&img, 5)?;
                languages = Vec::new();
            }
            Modality::Audio => {
                let audio = decode_audio(path, AUDIO_SR, &self.limits)?.head(AUDIO_WINDOW_S);
                decode_ms = ms(t0);
                let a = self.audio_encoder()?.analyze(&audio.samples, 5)?;
                embedding = a.embedding;
                labels = Vec::new();
                languages = a.languages;
            }
            Modality::Video => {
                let video = decode_video(path, VIDEO_FRAMES, AUDIO_SR, &self.limits)?;
                decode_ms = ms(t0);
                let enc = self.image_encoder()?;
                let mut pooled: Vec<f32> = Vec::new();
                for f in &video.frames {
                    let e = enc.embed(f)?;
                    if pooled.is_empty() {
                        pooled = vec![0.0; e.len()];
                    }
                    for (p, x) in pooled.iter_mut().zip(e) {
                        *p += x / video.frames.len() as f32;
                    }
                }
                labels = enc.classify(&video.frames[video.frames.len() / 2], 5)?;
                let whisper = self.audio_encoder()?;
                let (audio_emb, langs) = match &video.audio {
                    Some(a) if !a.samples.is_empty() => {
                        let r = whisper.analyze(&a.head(AUDIO_WINDOW_S).samples, 5)?;
                        (r.embedding, r.languages)
                    }
                    _ => (vec![0.0; whisper.dim()], Vec::new()),
                };
                pooled.extend(audio_emb);
                embedding = pooled;
                languages = langs;
            }
            Modality::Text => anyhow::bail!("{}: not a media file", path.display()),
        }
        let encode_ms = ms(t0) - decode_ms;
        Ok(Perception {
            modality,
            format: kind.format_name().to_string(),
            embedding,
            labels,
            languages,
            decode_ms,
            encode_ms,
            cached: false,
        })
    }
}

/// Writes a cache entry atomically, so a reader never sees half of one.
fn write_entry(path: &Path, p: &Perception) -> Result<()> {
    Ok(mmtool_data::write_atomic(
        path,
        serde_json::to_string(p)?.as_bytes(),
    )?)
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perception(modality: Modality, embedding: Vec<f32>) -> Perception {
        Perception {
            modality,
            format: "x".into(),
            embedding,
            labels: Vec::new(),
            languages: Vec::new(),
            decode_ms: 0.,
            encode_ms: 0.,
            cached: false,
        }
    }

    #[test]
    fn a_confident_spoken_language_becomes_a_text_hint() {
        let mut a = perception(Modality::Audio, vec![0.0; AUDIO_DIM]);
        assert_eq!(a.text_hint(), None, "no language found");
        a.languages = vec![("de".into(), 0.83), ("en".into(), 0.06)];
        assert_eq!(a.text_hint().as_deref(), Some("German audio"));
        a.languages = vec![("th".into(), 0.64)];
        assert_eq!(a.text_hint(), None, "not sure enough");
        // Likely enough to widen a shortlist, not to be read with the request.
        assert_eq!(a.shortlist_hint().as_deref(), Some("Thai audio"));
        a.languages = vec![("de".into(), 0.2)];
        assert_eq!(a.shortlist_hint(), None);
        let mut v = perception(Modality::Video, vec![0.0; MEDIA_DIM]);
        v.languages = vec![("fr".into(), 0.9)];
        assert_eq!(v.text_hint().as_deref(), Some("French video"));
        let mut i = perception(Modality::Image, vec![0.0; IMAGE_DIM]);
        i.labels = vec![("tabby".into(), 0.9)];
        assert_eq!(i.text_hint(), None);
    }

    #[test]
    fn media_features_put_each_modality_in_its_part_of_one_layout() {
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let img = perception(Modality::Image, vec![3.0; IMAGE_DIM])
            .media_features()
            .unwrap();
        assert_eq!(img.len(), MEDIA_DIM);
        let want = 1.0 / (IMAGE_DIM as f32).sqrt();
        assert!(img[..IMAGE_DIM].iter().all(|&x| (x - want).abs() < 1e-6));
        assert!(img[IMAGE_DIM..].iter().all(|&x| x == 0.0));
        let aud = perception(Modality::Audio, vec![2.0; AUDIO_DIM])
            .media_features()
            .unwrap();
        assert!(aud[..IMAGE_DIM].iter().all(|&x| x == 0.0));
        assert!((norm(&aud[IMAGE_DIM..]) - 1.0).abs() < 1e-5);
        // A video: both parts unit length, each scaled on its own.
        let vid: Vec<f32> = (0..MEDIA_DIM).map(|i| i as f32).collect();
        let v = perception(Modality::Video, vid.clone())
            .media_features()
            .unwrap();
        assert!((norm(&v[..IMAGE_DIM]) - 1.0).abs() < 1e-5);
        assert!((norm(&v[IMAGE_DIM..]) - 1.0).abs() < 1e-5);
        let ratio = v[IMAGE_DIM + 10] / v[IMAGE_DIM + 5];
        assert!((ratio - vid[IMAGE_DIM + 10] / vid[IMAGE_DIM + 5]).abs() < 1e-5);
        // A silent video's sound part stays zero.
        let mut silent = vid.clone();
        silent[IMAGE_DIM..].iter_mut().for_each(|x| *x = 0.0);
        let s = perception(Modality::Video, silent)
            .media_features()
            .unwrap();
        assert!(s[IMAGE_DIM..].iter().all(|&x| x == 0.0));
        let err = perception(Modality::Audio, vec![0.0; 3])
            .media_features()
            .unwrap_err();
        assert!(err.to_string().contains("expected 512"), "{err}");
        assert!(perception(Modality::Text, Vec::new())
            .media_features()
            .is_err());
    }
}
