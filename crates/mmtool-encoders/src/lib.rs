//! Frozen pretrained encoders: EfficientNet-Lite0, Whisper-base, ImageBind
pub mod efficientnet;
pub mod imagebind;
pub mod imagenet_labels;
