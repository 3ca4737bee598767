//! Frozen pretrained encoders: EfficientNet-Lite0 (images), Whisper-base
//! (audio, spoken-language identification) and ImageBind (the paper's encoder).

pub mod ct2;
pub mod efficientnet;
pub mod imagebind;
pub mod imagenet_labels;
pub mod mel;
pub mod perception;
pub mod whisper;

pub use perception::{Perceiver, Perception};
pub use whisper::{AudioAnalysis, LanguageTokens, Whisper};
