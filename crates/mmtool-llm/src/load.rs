//! Loading a base LLM: a llama.cpp GGUF file or a HuggingFace safetensors directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, Tokenizer};

use crate::llama::Config;

/// Base weights (HuggingFace names, f32), their config and tokenizer.
pub struct BaseModel {
    pub config: Config,
    pub tensors: HashMap<String, Tensor>,
    pub tokenizer: Tokenizer,
    /// Where it came from, for checkpoint records.
    pub source: PathBuf,
}

impl BaseModel {
    /// Loads a `.gguf` file or a directory with `config.json`, `tokenizer.json`
    /// and `*.safetensors`.
    pub fn load(path: &Path, dev: &Device) -> Result<Self> {
        if path.is_dir() {
            load_hf_dir(path, dev)
        } else if path.extension().is_some_and(|e| e == "gguf") {
            load_gguf(path, dev)
        } else if !path.exists() {
            bail!(
                "{}: backbone not found (expected a .gguf file or a HuggingFace model directory)",
                path.display()
            )
        } else {
            bail!("{}: not a .gguf file or a model directory", path.display())
        }
    }

    pub fn var_builder(&self, dev: &Device) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), DType::F32, dev)
    }
}

/// llama.cpp tensor names to HuggingFace names.
fn hf_name(gguf: &str) -> Option<String> {
    let top = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some(t.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, name) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let hf = match name {
        "attn_q.weight" => "self_attn.q_proj.weight",
        "attn_k.weight" => "self_attn.k_proj.weight",
        "attn_v.weight" => "self_attn.v_proj.weight",
        "attn_output.weight" => "self_attn.o_proj.weight",
        "ffn_gate.weight" => "mlp.gate_proj.weight",
        "ffn_up.weight" => "mlp.up_proj.weight",
        "ffn_down.weight" => "mlp.down_proj.weight",
        "attn_norm.weight" => "input_layernorm.weight",
        "ffn_norm.weight" => "post_attention_layernorm.weight",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}"))
}

/// Loads a llama GGUF file, dequantising every tensor to f32 (training needs
/// f32 weights; 135M parameters are 0.54 GB).
pub fn load_gguf(path: &Path, dev: &Device) -> Result<BaseModel> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    let content = gguf_file::Content::read(&mut file)
        .with_context(|| format!("{}: not a valid GGUF file", path.display()))?;
    let md = |k: &str| {
        content
            .metadata
            .get(k)
            .with_context(|| format!("{}: GGUF metadata has no {k:?}", path.display()))
    };
    let arch = md("general.architecture")?.to_string()?.clone();
    if arch != "llama" {
        bail!(
            "{}: architecture {arch:?} is not supported (only llama)",
            path.display()
        );
    }
    let u = |k: &str| -> Result<usize> { Ok(md(k)?.to_u32()? as usize) };
    let tokenizer = tokenizer_from_gguf(&content)
        .with_context(|| format!("{}: building the tokenizer", path.display()))?;
    let mut tensors = HashMap::new();
    for name in content.tensor_infos.keys() {
        let Some(hf) = hf_name(name) else { continue };
        let q = content
            .tensor(&mut file, name, dev)
            .with_context(|| format!("{}: reading tensor {name}", path.display()))?;
        tensors.insert(hf, q.dequantize(dev)?);
    }
    let vocab_size = tensors
        .get("model.embed_tokens.weight")
        .with_context(|| format!("{}: no token_embd.weight", path.display()))?
        .dim(0)?;
    let config = Config {
        vocab_size,
        hidden_size: u("llama.embedding_length")?,
        intermediate_size: u("llama.feed_forward_length")?,
        num_hidden_layers: u("llama.block_count")?,
        num_attention_heads: u("llama.attention.head_count")?,
        num_key_value_heads: Some(u("llama.attention.head_count_kv")?),
        rms_norm_eps: md("llama.attention.layer_norm_rms_epsilon")?.to_f32()? as f64,
        rope_theta: md("llama.rope.freq_base")
            .and_then(|v| Ok(v.to_f32()?))
            .unwrap_or(10_000.),
        tie_word_embeddings: !tensors.contains_key("lm_head.weight"),
        max_position_embeddings: u("llama.context_length").unwrap_or(2048),
        rope_interleaved: true,
    };
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(BaseModel {
        config,
        tensors,
        tokenizer,
        source: path.to_path_buf(),
    })
}

/// Builds the tokenizer from GGUF metadata with the `tokenizers` crate.
/// candle's `TokenizerFromGguf` gets this file wrong (see the project's
/// candle notes): the SmolLM2 pre-tokenizer splits digits individually and
/// adds no prefix space.
pub fn tokenizer_from_gguf(content: &gguf_file::Content) -> Result<Tokenizer> {
    let md = |k: &str| {
        content
            .metadata
            .get(k)
            .with_context(|| format!("GGUF metadata has no {k:?}"))
    };
    let model = md("tokenizer.ggml.model")?.to_string()?;
    if model != "gpt2" {
        bail!("tokenizer model {model:?} is not supported (only gpt2-style BPE)");
    }
    let tokens: Vec<String> = md("tokenizer.ggml.tokens")?
        .to_vec()?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<candle_core::Result<_>>()?;
    let merges: Vec<(String, String)> = md("tokenizer.ggml.merges")?
        .to_vec()?
        .iter()
        .map(|v| {
            let s = v.to_string()?;
            s.split_once(' ')
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .ok_or_else(|| candle_core::Error::Msg(format!("malformed merge {s:?}")))
        })
        .collect::<candle_core::Result<_>>()?;
    let types: Vec<i32> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(v) => v
            .to_vec()?
            .iter()
            .map(|t| t.to_i32())
            .collect::<candle_core::Result<_>>()?,
        None => Vec::new(),
    };
    let vocab: tokenizers::models::bpe::Vocab = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, merges)
        .build()
        .map_err(|e| anyhow::anyhow!("BPE: {e}"))?;
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(Sequence::new(vec![
        PreTokenizerWrapper::Digits(Digits::new(true)),
        PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true)),
    ])));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    // Type 3 = control tokens (<|im_start|> ...): never split.
    let specials: Vec<AddedToken> = tokens
        .iter()
        .zip(types.iter())
        .filter(|(_, &t)| t == 3)
        .map(|(s, _)| AddedToken::from(s.clone(), true))
        .collect();
    tok.add_special_tokens(specials)
        .map_err(|e| anyhow::anyhow!("adding special tokens: {e}"))?;
    Ok(tok)
}

/// Loads a HuggingFace Llama-family directory (`config.json`,
/// `tokenizer.json`, one or more `*.safetensors`).
pub fn load_hf_dir(dir: &Path, dev: &Device) -> Result<BaseModel> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("{}: cannot read", cfg_path.display()))?;
    let mut config: Config = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a Llama config", cfg_path.display()))?;
    config.rope_interleaved = false;
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", cfg_path.display()))?;
    let tok_path = dir.join("tokenizer.json");
    let tokenizer = Tokenizer::from_file(&tok_path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", tok_path.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("{}: no *.safetensors files", dir.display());
    }
    let mut tensors = HashMap::new();
    for f in &files {
        let part = candle_core::safetensors::load(f, dev)
            .with_context(|| format!("{}: cannot read safetensors", f.display()))?;
        for (k, v) in part {
            tensors.insert(k, v.to_dtype(DType::F32)?);
        }
    }
    Ok(BaseModel {
        config,
        tensors,
        tokenizer,
        source: dir.to_path_buf(),
    })
}

/// Where the default backbone lives: `$MMTOOL_CACHE/models/smollm2/...`
/// (default cache `~/.cache/mmtool`).
pub fn default_backbone() -> PathBuf {
    cache_dir().join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
}

pub use mmtool_data::cache_dir;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_names_map_to_hf() {
        assert_eq!(
            hf_name("blk.3.attn_q.weight").unwrap(),
            "model.layers.3.self_attn.q_proj.weight"
        );
        assert_eq!(
            hf_name("blk.12.ffn_norm.weight").unwrap(),
            "model.layers.12.post_attention_layernorm.weight"
        );
        assert_eq!(
            hf_name("token_embd.weight").unwrap(),
            "model.embed_tokens.weight"
        );
        assert!(hf_name("rope_freqs.weight").is_none());
    }

    #[test]
    fn missing_backbone_names_the_path() {
        let err = BaseModel::load(Path::new("/nonexistent/model.gguf"), &Device::Cpu)
            .err()
            .unwrap();
        assert!(
            format!("{err:#}").contains("/nonexistent/model.gguf"),
            "{err:#}"
        );
    }
}
