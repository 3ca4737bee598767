//! Frozen pretrained encoders: EfficientNet-Lite0, Whisper-base, ImageBind
