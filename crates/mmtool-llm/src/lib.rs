//! The MLLM of MLLM-Tool: a Llama-family LLM with LoRA adapters and a media
//! projection producing one soft token, trained on CPU, answering with a
//! catalog id under constrained decoding.
//!
//! - [`llama`]: the model file (LoRA-able, training-safe ops, KV cache).
//! - [`load`]: GGUF and HuggingFace-directory backbones, GGUF tokenizer.
//! - [`prompt`]: the paper's prompt/target format.
//! - [`decode`]: trie-constrained beam search and free generation.
//! - [`checkpoint`]: adapter files (trainable tensors + record).
//! - [`lower_cache`]: the frozen lower layers' training-time output, kept on disk.

pub mod backend;
pub mod checkpoint;
pub mod decode;
pub mod frozen;
pub mod llama;
pub mod load;
pub mod lower_cache;
pub mod prompt;
pub mod train;

pub use llama::{Config, KvCache, LoraConfig, Mllm};
pub use load::BaseModel;
pub use prompt::{Prompt, PromptEncoder};
