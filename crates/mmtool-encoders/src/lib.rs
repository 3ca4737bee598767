//! Frozen pretrained encoders: EfficientNet-Lite0, Whisper-base, ImageBind

pub mod ct2;
pub mod mel;
pub mod whisper;

pub use whisper::{AudioAnalysis, LanguageTokens, Whisper};
