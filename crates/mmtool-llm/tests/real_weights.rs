//! Tests on the real SmolLM2-135M GGUF; each skips (with a message) when the
//! weights are not in the model cache (`scripts/fetch-weights.sh smollm2`).

use candle_core::{Device, Tensor, D};
use mmtool_llm::llama::LoraConfig;
use mmtool_llm::load::{default_backbone, load_gguf};
use mmtool_llm::{Mllm, PromptEncoder};

fn weights() -> Option<std::path::PathBuf> {
    let p = default_backbone();
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipping: {} not present (run scripts/fetch-weights.sh smollm2)",
            p.display()
        );
        None
    }
}

#[test]
fn tokenizer_round_trips_on_the_real_vocabulary() {
    let Some(p) = weights() else { return };
    let base = load_gguf(&p, &Device::Cpu).unwrap();
    let enc = PromptEncoder::new(base.tokenizer);
    for text in [
        "### Human: Translate 'Guten Morgen' to English, 2024 edition!\n### Assistant: ",
        "{'api_name': facebook/wav2vec2-base-960h}\n###",
        "  leading spaces, ünïcödé, emoji 🤗 and digits 1234567",
        "<|im_start|>user\nhi<|im_end|>",
    ] {
        let ids = enc.encode(text).unwrap();
        assert_eq!(enc.decode(&ids).unwrap(), text);
    }
    // Digits are split one per token, and control tokens stay whole.
    assert_eq!(enc.encode("123").unwrap().len(), 3);
    assert_eq!(enc.encode("<|im_start|>").unwrap().len(), 1);
}

#[test]
fn real_model_logits_are_finite_and_know_a_fact() {
    let Some(p) = weights() else { return };
    let dev = Device::Cpu;
    let base = load_gguf(&p, &dev).unwrap();
    assert_eq!(base.config.num_hidden_layers, 30);
    assert_eq!(base.config.hidden_size, 576);
    let enc = PromptEncoder::new(base.tokenizer.clone());
    let lora = LoraConfig {
        targets: vec![],
        ..LoraConfig::default()
    };
    let m = Mllm::new(base.config.clone(), base.var_builder(&dev), lora, 8).unwrap();
    let ids = enc.encode("The capital of France is").unwrap();
    let logits = m
        .forward_all(
            &Tensor::new(ids.as_slice(), &dev)
                .unwrap()
                .unsqueeze(0)
                .unwrap(),
        )
        .unwrap();
    let last = logits.squeeze(0).unwrap().get(ids.len() - 1).unwrap();
    let v = last.to_vec1::<f32>().unwrap();
    assert!(v.iter().all(|x| x.is_finite()));
    let top = last.argmax(D::Minus1).unwrap().to_scalar::<u32>().unwrap();
    assert_eq!(enc.decode(&[top]).unwrap(), " Paris");
}
