//! all-MiniLM-L6-v2 sentence embeddings: BERT (candle-transformers), mean
//! pooling over real tokens, L2 normalisation — the sentence-transformers
//! recipe the checkpoint was trained with.

use std::path::{Path, PathBuf};

use crate::tuned::{attention_bias, TopLayer, TunedLayers};
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use indicatif::{ProgressBar, ProgressStyle};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Id of the checkpoint, used to key caches.
pub const MODEL_ID: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// Directory name under `$MMTOOL_CACHE/models`.
pub const MODEL_DIR_NAME: &str = "minilm";
/// Longest input in tokens; the checkpoint was trained at 128 (longer text is cut).
pub const MAX_TOKENS: usize = 128;
const BATCH: usize = 32;

/// `$MMTOOL_CACHE` or `~/.cache/mmtool`.
pub fn cache_root() -> PathBuf {
    mmtool_data::cache_dir()
}

/// Where `scripts/fetch-weights.sh` puts the MiniLM weights.
pub fn default_model_dir() -> PathBuf {
    cache_root().join("models").join(MODEL_DIR_NAME)
}

/// The sentence encoder.
pub struct MiniLm {
    model: BertModel,
    /// Fine-tuned replacements for the checkpoint's top layers (empty for the
    /// plain model); `model` then holds only the layers below them.
    top: Vec<TopLayer>,
    tokenizer: Tokenizer,
    device: Device,
    dim: usize,
}

impl MiniLm {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self> {
        Self::load_tuned(dir, None)
    }

    /// Loads the model with its top layers replaced by fine-tuned ones
    /// (LoRA merged in); `None` is the plain checkpoint.
    pub fn load_tuned(dir: &Path, tuned: Option<&TunedLayers>) -> Result<Self> {
        if !dir.join(".complete").exists() && !dir.join("model.safetensors").exists() {
            anyhow::bail!(
                "{}: MiniLM weights are missing; run `scripts/fetch-weights.sh minilm`",
                dir.display()
            );
        }
        let (vb, config, tokenizer) = Self::read_dir(dir)?;
        let weights = dir.join("model.safetensors");
        match tuned {
            None => Self::new(vb, &config, tokenizer),
            Some(t) => Self::with_top(vb, &config, tokenizer, t),
        }
        .with_context(|| format!("{}: bad weights", weights.display()))
    }

    /// The model without its top `tuned.layers()` layers, followed by the
    /// tuned ones.
    pub fn with_top(
        vb: VarBuilder,
        config: &Config,
        tokenizer: Tokenizer,
        tuned: &TunedLayers,
    ) -> Result<Self> {
        let first = tuned.first_layer(config.num_hidden_layers)?;
        let mut m = Self::lower(vb.clone(), config, tokenizer, first)?;
        m.top = (first..config.num_hidden_layers)
            .map(|i| TopLayer::load(&vb, config, i, Some(tuned)))
            .collect::<Result<_>>()?;
        Ok(m)
    }

    /// Only the checkpoint's first `layers` layers: its output is the hidden
    /// state that fine-tuned top layers read (cached once for training).
    pub fn lower(
        vb: VarBuilder,
        config: &Config,
        tokenizer: Tokenizer,
        layers: usize,
    ) -> Result<Self> {
        let mut cfg = config.clone();
        cfg.num_hidden_layers = layers;
        Self::new(vb, &cfg, tokenizer)
    }

    /// Config, tokenizer and weights of a model directory, for building
    /// partial models (fine-tuning).
    pub fn read_dir(dir: &Path) -> Result<(VarBuilder<'static>, Config, Tokenizer)> {
        let cfg_path = dir.join("config.json");
        let cfg_text = std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("{}: cannot read", cfg_path.display()))?;
        let config: Config = serde_json::from_str(&cfg_text)
            .with_context(|| format!("{}: not a BERT config", cfg_path.display()))?;
        let tok_path = dir.join("tokenizer.json");
        let tokenizer = Tokenizer::from_file(&tok_path)
            .map_err(|e| anyhow::anyhow!("{}: cannot load tokenizer: {e}", tok_path.display()))?;
        let weights = dir.join("model.safetensors");
        // SAFETY: the file is only read, and the cache is not rewritten while it is mapped.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
                .with_context(|| format!("{}: cannot map weights", weights.display()))?;
        Ok((vb, config, tokenizer))
    }

    /// Builds the encoder from any weights (tests use tiny random ones).
    pub fn new(vb: VarBuilder, config: &Config, mut tokenizer: Tokenizer) -> Result<Self> {
        let device = vb.device().clone();
        let model = BertModel::load(vb, config)?;
        // The shipped tokenizer pads every input to 128; padding to the
        // longest in the batch does the same work on far fewer tokens.
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .unwrap_or(config.pad_token_id as u32);
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token: "[PAD]".into(),
            ..Default::default()
        }));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS.min(config.max_position_embeddings),
                ..Default::default()
            }))
            .map_err(|e| anyhow::anyhow!("cannot set truncation: {e}"))?;
        Ok(MiniLm {
            model,
            top: Vec::new(),
            tokenizer,
            device,
            dim: config.hidden_size,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Token ids and attention mask of one batch, padded to its longest.
    fn encode(&self, texts: &[&str]) -> Result<(Tensor, Tensor)> {
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| anyhow::anyhow!("tokenizer failed: {e}"))?;
        let n = enc.len();
        let len = enc.first().map_or(0, |e| e.get_ids().len());
        let mut ids = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for e in &enc {
            ids.extend_from_slice(e.get_ids());
            mask.extend_from_slice(e.get_attention_mask());
        }
        let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        Ok((ids, mask))
    }

    /// Hidden states of the last layer `[n, len, dim]` and the mask `[n, len]`
    /// (f32) of one batch padded to its longest text.
    pub fn hidden(&self, texts: &[&str]) -> Result<(Tensor, Tensor)> {
        let (ids, mask) = self.encode(texts)?;
        let types = ids.zeros_like()?;
        let mut hidden = self.model.forward(&ids, &types, Some(&mask))?;
        let maskf = mask.to_dtype(DType::F32)?;
        if !self.top.is_empty() {
            let add = attention_bias(&maskf)?;
            for layer in &self.top {
                hidden = layer.forward(&hidden, &add)?;
            }
        }
        Ok((hidden, maskf))
    }

    /// Embeds one batch: `[texts.len(), dim]`, rows L2-normalised.
    fn embed_batch(&self, texts: &[&str]) -> Result<Tensor> {
        let (hidden, mask) = self.hidden(texts)?;
        Ok(mean_pool(&hidden, &mask)?)
    }

    /// Embeds texts as a row-major `texts.len() x dim` matrix of unit rows.
    /// Texts are batched by length so that little padding is computed.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        self.embed_inner(texts, None)
    }

    /// Like [`MiniLm::embed`], with a progress bar labelled `what`.
    pub fn embed_with_progress(&self, texts: &[&str], what: &str) -> Result<Vec<f32>> {
        let pb = ProgressBar::new(texts.len() as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg} [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta}",
            )
            .expect("static template"),
        );
        pb.set_message(format!("embedding {what}"));
        let out = self.embed_inner(texts, Some(&pb));
        pb.finish_and_clear();
        out
    }

    fn embed_inner(&self, texts: &[&str], pb: Option<&ProgressBar>) -> Result<Vec<f32>> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![0f32; texts.len() * self.dim];
        for chunk in order.chunks(BATCH) {
            let batch: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let rows: Vec<Vec<f32>> = self.embed_batch(&batch)?.to_vec2()?;
            for (&i, row) in chunk.iter().zip(rows) {
                out[i * self.dim..(i + 1) * self.dim].copy_from_slice(&row);
            }
            if let Some(pb) = pb {
                pb.inc(chunk.len() as u64);
            }
        }
        Ok(out)
    }
}

/// Mean over the real tokens, L2-normalised: `[n, len, dim]` -> `[n, dim]`.
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
    let maskf = mask.unsqueeze(2)?;
    let summed = hidden.broadcast_mul(&maskf)?.sum(1)?;
    let counts = maskf.sum(1)?.clamp(1e-9f32, f32::MAX)?;
    normalize_rows(&summed.broadcast_div(&counts)?)
}

/// Divides each row of a 2-D tensor by its L2 norm.
pub fn normalize_rows(x: &Tensor) -> candle_core::Result<Tensor> {
    let norm = x.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12f32, f32::MAX)?;
    x.broadcast_div(&norm)
}

/// Normalises a vector in place to unit length (left alone if zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 1e-12 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use candle_nn::VarMap;
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;

    /// A 2-layer, 32-wide random BERT with a 20-word vocabulary.
    pub(crate) fn tiny() -> MiniLm {
        let (vm, cfg, tok) = tiny_parts();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        MiniLm::new(vb, &cfg, tok).unwrap()
    }

    /// The tiny model's random weights (created on first use), config and
    /// tokenizer.
    pub(crate) fn tiny_parts() -> (VarMap, Config, Tokenizer) {
        let words = [
            "[PAD]",
            "[UNK]",
            "[CLS]",
            "[SEP]",
            "translate",
            "text",
            "image",
            "audio",
            "speech",
            "photo",
            "to",
            "french",
            "german",
            "sharp",
            "blurry",
            "make",
            "this",
            "the",
            "a",
            "music",
        ];
        let dir = tempfile::tempdir().unwrap();
        let vocab = dir.path().join("vocab.txt");
        std::fs::write(&vocab, words.join("\n")).unwrap();
        let wp = WordPiece::from_file(vocab.to_str().unwrap())
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tok = Tokenizer::new(wp);
        tok.with_normalizer(Some(BertNormalizer::default()))
            .unwrap();
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        tok.with_post_processor(Some(BertProcessing::new(
            ("[SEP]".into(), 3),
            ("[CLS]".into(), 2),
        )));
        let cfg: Config = serde_json::from_value(serde_json::json!({
            "vocab_size": words.len(), "hidden_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.0, "max_position_embeddings": 64, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0,
            "position_embedding_type": "absolute", "use_cache": false, "model_type": "bert"
        }))
        .unwrap();
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        // Creates every weight now, with the layers' own initialisers.
        MiniLm::new(vb, &cfg, tok.clone()).unwrap();
        (vm, cfg, tok)
    }

    fn row(m: &[f32], dim: usize, i: usize) -> &[f32] {
        &m[i * dim..(i + 1) * dim]
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn tiny_embeddings_are_unit_rows_independent_of_batching_and_padding() {
        let m = tiny();
        let texts = [
            "translate this text to french",
            "photo",
            "make the blurry image sharp",
        ];
        let all = m.embed(&texts).unwrap();
        assert_eq!(all.len(), 3 * m.dim());
        for i in 0..3 {
            let r = row(&all, m.dim(), i);
            assert!(r.iter().all(|x| x.is_finite()));
            assert!((dot(r, r) - 1.0).abs() < 1e-4);
            // Alone (no padding) it must give the same vector as in the padded batch.
            let alone = m.embed(&texts[i..i + 1]).unwrap();
            let d = dot(&alone, r);
            assert!((d - 1.0).abs() < 1e-4, "row {i}: cos {d}");
        }
        assert!(dot(row(&all, m.dim(), 0), row(&all, m.dim(), 1)) < 0.9999);
    }

    #[test]
    fn missing_weights_error_names_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = MiniLm::load(dir.path()).err().unwrap().to_string();
        assert!(
            err.contains(&dir.path().display().to_string()) && err.contains("fetch-weights"),
            "{err}"
        );
    }

    #[test]
    fn real_weights_rank_paraphrases_above_unrelated_text() {
        let dir = default_model_dir();
        if !dir.join(".complete").exists() {
            eprintln!("skipping: MiniLM weights not found in {}", dir.display());
            return;
        }
        let m = MiniLm::load(&dir).unwrap();
        let texts = [
            "A man is playing a guitar.",
            "Someone plays an acoustic guitar.",
            "The stock market fell sharply today.",
        ];
        let e = m.embed(&texts).unwrap();
        assert_eq!(m.dim(), 384);
        let (a, b, c) = (row(&e, 384, 0), row(&e, 384, 1), row(&e, 384, 2));
        for r in [a, b, c] {
            assert!(r.iter().all(|x| x.is_finite()));
            assert!((dot(r, r) - 1.0).abs() < 1e-4);
        }
        let close = dot(a, b);
        let far = dot(a, c);
        assert!(
            close > 0.5 && far < 0.2 && close > far + 0.3,
            "close {close} far {far}"
        );
        let again = m.embed(&texts).unwrap();
        assert_eq!(e, again, "embeddings must be deterministic");
    }
}
