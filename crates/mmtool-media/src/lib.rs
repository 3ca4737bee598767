//! Media decoding: images, audio, video into pixels and samples
