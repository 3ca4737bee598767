#![allow(dead_code)]
//! Tiny random models and a byte-level tokenizer for tests.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarBuilder;
use mmtool_llm::llama::{random_base, Config, LoraConfig, Mllm};
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::Tokenizer;

/// A byte-level BPE with no merges: 256 tokens, one per byte; encodes any text.
pub fn byte_tokenizer() -> Tokenizer {
    // The alphabet is a HashSet: sorted, so every instance numbers the bytes
    // alike (two tokenizers of a test must encode text the same way).
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let vocab: tokenizers::models::bpe::Vocab = alphabet
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.to_string(), i as u32))
        .collect();
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, Vec::new())
        .build()
        .unwrap();
    let mut tok = Tokenizer::new(bpe);
    tok.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tok.with_decoder(Some(ByteLevelDecoder::default()));
    tok
}

pub fn tiny_cfg() -> Config {
    Config::tiny(256)
}

pub fn base(cfg: &Config, seed: u64) -> HashMap<String, Tensor> {
    random_base(cfg, seed, &Device::Cpu).unwrap()
}

pub fn model(
    cfg: &Config,
    base: &HashMap<String, Tensor>,
    lora: LoraConfig,
    media_dim: usize,
) -> Mllm {
    let vb = VarBuilder::from_tensors(base.clone(), candle_core::DType::F32, &Device::Cpu);
    Mllm::new(cfg.clone(), vb, lora, media_dim).unwrap()
}

pub fn lora(rank: usize, dropout: f32) -> LoraConfig {
    LoraConfig {
        rank,
        alpha: rank as f64,
        dropout,
        layers: Vec::new(),
        targets: ["q", "k", "v", "o"].iter().map(|s| s.to_string()).collect(),
    }
}

/// Writes a tiny HuggingFace-layout model directory.
pub fn write_hf_dir(dir: &Path, cfg: &Config, base: &HashMap<String, Tensor>) {
    let mut c = serde_json::to_value(cfg).unwrap();
    c.as_object_mut().unwrap().remove("rope_interleaved");
    c["architectures"] = serde_json::json!(["LlamaForCausalLM"]);
    std::fs::write(dir.join("config.json"), serde_json::to_string(&c).unwrap()).unwrap();
    byte_tokenizer()
        .save(dir.join("tokenizer.json"), false)
        .unwrap();
    candle_core::safetensors::save(base, dir.join("model.safetensors")).unwrap();
}

pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}
