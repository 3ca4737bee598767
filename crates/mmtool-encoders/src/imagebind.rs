//! ImageBind (Girdhar et al., CVPR 2023) vision and audio towers, the encoders
//! MLLM-Tool uses.
//!
//! Structure and tensor names follow facebookresearch/ImageBind
//! (`imagebind/models/imagebind_model.py`, `transformer.py`,
//! `multimodal_preprocessors.py`), so the official `imagebind_huge.pth` loads
//! once converted to safetensors:
//!
//! ```text
//! python -c "import torch; from safetensors.torch import save_file; \
//!   sd = torch.load('imagebind_huge.pth', map_location='cpu', weights_only=True); \
//!   save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')"
//! ```
//!
//! and put `model.safetensors` in `$MMTOOL_CACHE/models/imagebind/`. Only the
//! vision and audio tensors are read; the text, depth, thermal and IMU ones are
//! ignored.
//!
//! - vision: an image is a 2-frame clip of itself (`PadIm2Video(repeat)`), cut
//!   into 2x14x14 tubelets by a bias-free `Conv3d`; a class token and learned
//!   position embeddings are added, then LayerNorm, a pre-norm ViT-H trunk, and a
//!   head (LayerNorm, class token, bias-free projection); output L2-normalised.
//! - audio: a 128-bin Kaldi fbank of 204 frames (`[1, 128, 204]`) cut into 16x16
//!   patches with stride 10, LayerNorm on the patch embeddings, a ViT-B trunk
//!   whose attention has learned key/value bias tokens (`add_bias_kv`), the same
//!   head, then L2 normalisation times a fixed logit scale (20).
//!
//! candle has no conv3d. With kernel depth equal to the clip length (2) the
//! Conv3d is exactly the sum of one 2-D convolution per frame with that frame's
//! kernel slice, which is how it is computed here.

use std::path::Path;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{LayerNorm, Linear, VarBuilder};
use image::RgbImage;

/// One transformer trunk (`SimpleTransformer` with `BlockWithMasking`).
#[derive(Debug, Clone, PartialEq)]
pub struct TrunkConfig {
    pub embed_dim: usize,
    pub num_blocks: usize,
    pub num_heads: usize,
    /// LayerNorm before the first block (vision only).
    pub pre_transformer_ln: bool,
    /// Learned key/value bias tokens appended to every attention (audio).
    pub add_bias_kv: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub trunk: TrunkConfig,
    pub image_size: usize,
    pub patch_size: usize,
    /// Frames per clip; the Conv3d kernel spans all of them.
    pub frames: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioConfig {
    pub trunk: TrunkConfig,
    pub num_mel_bins: usize,
    pub target_len: usize,
    pub kernel_size: usize,
    pub stride: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub vision: VisionConfig,
    pub audio: AudioConfig,
    pub out_embed_dim: usize,
}

impl Config {
    /// `imagebind_huge`: ViT-H/14 vision trunk, ViT-B audio trunk, 1024-d output.
    pub fn huge() -> Self {
        Self {
            vision: VisionConfig {
                trunk: TrunkConfig {
                    embed_dim: 1280,
                    num_blocks: 32,
                    num_heads: 16,
                    pre_transformer_ln: true,
                    add_bias_kv: false,
                },
                image_size: 224,
                patch_size: 14,
                frames: 2,
            },
            audio: AudioConfig {
                trunk: TrunkConfig {
                    embed_dim: 768,
                    num_blocks: 12,
                    num_heads: 12,
                    pre_transformer_ln: false,
                    add_bias_kv: true,
                },
                num_mel_bins: 128,
                target_len: 204,
                kernel_size: 16,
                stride: 10,
            },
            out_embed_dim: 1024,
        }
    }
}

/// ImageBind's own LayerNorms use eps 1e-6; the audio stem's uses torch's 1e-5.
fn layer_norm(dim: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    candle_nn::layer_norm(
        dim,
        candle_nn::LayerNormConfig {
            eps,
            ..Default::default()
        },
        vb,
    )
}

/// `torch.nn.MultiheadAttention` (packed `in_proj_weight`), self-attention only.
#[derive(Debug, Clone)]
struct MultiheadAttention {
    in_proj: Linear,
    out_proj: Linear,
    bias_kv: Option<(Tensor, Tensor)>,
    num_heads: usize,
}

impl MultiheadAttention {
    fn new(cfg: &TrunkConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.embed_dim;
        let in_proj = Linear::new(
            vb.get((3 * d, d), "in_proj_weight")?,
            Some(vb.get(3 * d, "in_proj_bias")?),
        );
        let out_proj = candle_nn::linear(d, d, vb.pp("out_proj"))?;
        let bias_kv = if cfg.add_bias_kv {
            Some((vb.get((1, 1, d), "bias_k")?, vb.get((1, 1, d), "bias_v")?))
        } else {
            None
        };
        Ok(Self {
            in_proj,
            out_proj,
            bias_kv,
            num_heads: cfg.num_heads,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (b, l, d) = x.dims3()?;
        let hd = d / self.num_heads;
        let qkv = self.in_proj.forward(x)?;
        let q = qkv.narrow(D::Minus1, 0, d)?;
        let mut k = qkv.narrow(D::Minus1, d, d)?;
        let mut v = qkv.narrow(D::Minus1, 2 * d, d)?;
        if let Some((bk, bv)) = &self.bias_kv {
            // torch appends the bias token after the sequence, once per batch item.
            k = Tensor::cat(&[&k, &bk.broadcast_as((b, 1, d))?], 1)?;
            v = Tensor::cat(&[&v, &bv.broadcast_as((b, 1, d))?], 1)?;
        }
        let lk = k.dim(1)?;
        let heads = |t: &Tensor, n: usize| {
            t.reshape((b, n, self.num_heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = (heads(&q, l)? * (hd as f64).powf(-0.5))?;
        let (k, v) = (heads(&k, lk)?, heads(&v, lk)?);
        let att = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        self.out_proj.forward(&y)
    }
}

#[derive(Debug, Clone)]
struct Block {
    norm_1: LayerNorm,
    attn: MultiheadAttention,
    norm_2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl Block {
    fn new(cfg: &TrunkConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.embed_dim;
        Ok(Self {
            norm_1: layer_norm(d, 1e-6, vb.pp("norm_1"))?,
            attn: MultiheadAttention::new(cfg, vb.pp("attn"))?,
            norm_2: layer_norm(d, 1e-6, vb.pp("norm_2"))?,
            fc1: candle_nn::linear(d, 4 * d, vb.pp("mlp.fc1"))?,
            fc2: candle_nn::linear(4 * d, d, vb.pp("mlp.fc2"))?,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let x = (x + self.attn.forward(&self.norm_1.forward(x)?)?)?;
        // nn.GELU default: the exact (erf) form.
        let h = self.fc1.forward(&self.norm_2.forward(&x)?)?.gelu_erf()?;
        x + self.fc2.forward(&h)?
    }
}

#[derive(Debug, Clone)]
struct Trunk {
    pre_ln: Option<LayerNorm>,
    blocks: Vec<Block>,
}

impl Trunk {
    fn new(cfg: &TrunkConfig, vb: VarBuilder) -> candle_core::Result<Self> {
        let pre_ln = if cfg.pre_transformer_ln {
            Some(layer_norm(
                cfg.embed_dim,
                1e-6,
                vb.pp("pre_transformer_layer.0"),
            )?)
        } else {
            None
        };
        let blocks = (0..cfg.num_blocks)
            .map(|i| Block::new(cfg, vb.pp(format!("blocks.{i}"))))
            .collect::<candle_core::Result<_>>()?;
        Ok(Self { pre_ln, blocks })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let mut x = match &self.pre_ln {
            Some(ln) => ln.forward(x)?,
            None => x.clone(),
        };
        for b in &self.blocks {
            x = b.forward(&x)?;
        }
        Ok(x)
    }
}

/// `modality_heads.<m>`: LayerNorm, take the class token, project.
#[derive(Debug, Clone)]
struct Head {
    norm: LayerNorm,
    proj: Linear,
}

impl Head {
    fn new(d: usize, out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            norm: layer_norm(d, 1e-6, vb.pp("0"))?,
            proj: candle_nn::linear_no_bias(d, out, vb.pp("2"))?,
        })
    }

    fn forward(&self, tokens: &Tensor) -> candle_core::Result<Tensor> {
        let cls = self.norm.forward(tokens)?.narrow(1, 0, 1)?.squeeze(1)?;
        self.proj.forward(&cls)
    }
}

fn l2_normalize(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
}

/// Prepends the class token and adds position embeddings; `[B, N, D]` -> `[B, N+1, D]`.
fn add_cls_and_pos(tokens: &Tensor, cls: &Tensor, pos: &Tensor) -> candle_core::Result<Tensor> {
    let (b, n, d) = tokens.dims3()?;
    if pos.dim(1)? != n + 1 {
        candle_core::bail!(
            "input gives {n} patches but the position embedding has {} (the input size must \
             match the configured one)",
            pos.dim(1)? - 1
        );
    }
    Tensor::cat(&[&cls.broadcast_as((b, 1, d))?, tokens], 1)?.broadcast_add(pos)
}

#[derive(Debug, Clone)]
pub struct VisionTower {
    cfg: VisionConfig,
    /// Conv3d kernel split per frame: `[D, 3, p, p]` each.
    frame_kernels: Vec<Tensor>,
    cls_token: Tensor,
    pos_embed: Tensor,
    trunk: Trunk,
    head: Head,
}

impl VisionTower {
    fn new(cfg: &VisionConfig, out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.trunk.embed_dim;
        let p = cfg.patch_size;
        let pre = vb.pp("modality_preprocessors.vision");
        let w = pre.get((d, 3, cfg.frames, p, p), "rgbt_stem.proj.1.weight")?;
        let frame_kernels = (0..cfg.frames)
            .map(|t| w.narrow(2, t, 1)?.squeeze(2)?.contiguous())
            .collect::<candle_core::Result<_>>()?;
        let n = (cfg.image_size / p).pow(2);
        Ok(Self {
            cfg: cfg.clone(),
            frame_kernels,
            cls_token: pre.get((1, 1, d), "cls_token")?,
            pos_embed: pre.get((1, n + 1, d), "pos_embedding_helper.pos_embed")?,
            trunk: Trunk::new(&cfg.trunk, vb.pp("modality_trunks.vision"))?,
            head: Head::new(d, out, vb.pp("modality_heads.vision"))?,
        })
    }

    /// L2-normalised embeddings `[B, out]` for clips `[B, 3, T, H, W]` (T = frames)
    /// or images `[B, 3, H, W]` (repeated over time, as `PadIm2Video` does).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.cfg.patch_size;
        let mut acc: Option<Tensor> = None;
        for (t, k) in self.frame_kernels.iter().enumerate() {
            let frame = match x.rank() {
                4 => x.clone(),
                5 => x.narrow(2, t, 1)?.squeeze(2)?,
                r => candle_core::bail!("vision input must be rank 4 or 5, got rank {r}"),
            };
            let y = frame.conv2d(k, 0, p, 1, 1)?;
            acc = Some(match acc {
                Some(a) => (a + y)?,
                None => y,
            });
        }
        let Some(patches) = acc else {
            candle_core::bail!("vision tower has no frames")
        };
        // [B, D, h, w] -> [B, h*w, D]
        let tokens = patches.flatten_from(2)?.transpose(1, 2)?;
        let tokens = add_cls_and_pos(&tokens, &self.cls_token, &self.pos_embed)?;
        let out = self.head.forward(&self.trunk.forward(&tokens)?)?;
        l2_normalize(&out)
    }
}

#[derive(Debug, Clone)]
pub struct AudioTower {
    cfg: AudioConfig,
    stem: Tensor,
    stem_norm: LayerNorm,
    cls_token: Tensor,
    pos_embed: Tensor,
    trunk: Trunk,
    head: Head,
    logit_scale: Tensor,
}

impl AudioTower {
    fn new(cfg: &AudioConfig, out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let d = cfg.trunk.embed_dim;
        let k = cfg.kernel_size;
        let pre = vb.pp("modality_preprocessors.audio");
        let gh = (cfg.num_mel_bins - k) / cfg.stride + 1;
        let gw = (cfg.target_len - k) / cfg.stride + 1;
        Ok(Self {
            cfg: cfg.clone(),
            stem: pre.get((d, 1, k, k), "rgbt_stem.proj.weight")?,
            stem_norm: layer_norm(d, 1e-5, pre.pp("rgbt_stem.norm_layer"))?,
            cls_token: pre.get((1, 1, d), "cls_token")?,
            pos_embed: pre.get((1, gh * gw + 1, d), "pos_embedding_helper.pos_embed")?,
            trunk: Trunk::new(&cfg.trunk, vb.pp("modality_trunks.audio"))?,
            head: Head::new(d, out, vb.pp("modality_heads.audio"))?,
            // A fixed (non-learnable) buffer, log(20) in the released model.
            logit_scale: vb
                .pp("modality_postprocessors.audio.1")
                .get((), "log_logit_scale")?
                .exp()?,
        })
    }

    /// Embeddings `[B, out]` for fbank clips `[B, 1, num_mel_bins, target_len]`
    /// (already normalised with ImageBind's mean -4.268 / std 9.138):
    /// L2-normalised, times the logit scale, as the released model outputs them.
    pub fn forward(&self, fbank: &Tensor) -> candle_core::Result<Tensor> {
        let (_, c, h, w) = fbank.dims4()?;
        if c != 1 || h != self.cfg.num_mel_bins || w != self.cfg.target_len {
            candle_core::bail!(
                "audio input must be [B, 1, {}, {}], got {:?}",
                self.cfg.num_mel_bins,
                self.cfg.target_len,
                fbank.dims()
            );
        }
        let patches = fbank.conv2d(&self.stem, 0, self.cfg.stride, 1, 1)?;
        let tokens = self
            .stem_norm
            .forward(&patches.flatten_from(2)?.transpose(1, 2)?)?;
        let tokens = add_cls_and_pos(&tokens, &self.cls_token, &self.pos_embed)?;
        let out = self.head.forward(&self.trunk.forward(&tokens)?)?;
        l2_normalize(&out)?.broadcast_mul(&self.logit_scale)
    }
}

/// The two ImageBind towers mmtool uses.
#[derive(Debug, Clone)]
pub struct ImageBind {
    pub vision: VisionTower,
    pub audio: AudioTower,
    device: Device,
    image_size: usize,
}

impl ImageBind {
    pub fn new(cfg: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        Ok(Self {
            vision: VisionTower::new(&cfg.vision, cfg.out_embed_dim, vb.clone())?,
            audio: AudioTower::new(&cfg.audio, cfg.out_embed_dim, vb.clone())?,
            device: vb.device().clone(),
            image_size: cfg.vision.image_size,
        })
    }

    /// Loads `imagebind_huge` from `dir/model.safetensors` (see the module docs
    /// for the one-line conversion from `imagebind_huge.pth`).
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("model.safetensors");
        if !path.is_file() {
            bail!(
                "{}: not found; convert imagebind_huge.pth to safetensors first (see the \
                 mmtool_encoders::imagebind docs)",
                path.display()
            );
        }
        let device = Device::Cpu;
        // SAFETY: the file is memory-mapped read-only; mmtool never writes it
        // while loaded. Mapping avoids copying 4.5 GB of unused towers.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&path], DType::F32, &device) }
            .with_context(|| format!("{}: cannot read safetensors", path.display()))?;
        Self::new(&Config::huge(), vb).with_context(|| {
            format!(
                "{}: not an imagebind_huge checkpoint with the original tensor names",
                path.display()
            )
        })
    }

    /// The L2-normalised vision embedding of one image.
    pub fn embed_image(&self, img: &RgbImage) -> Result<Vec<f32>> {
        let x = preprocess_image(img, self.image_size, &self.device)?.unsqueeze(0)?;
        Ok(self.vision.forward(&x)?.squeeze(0)?.to_vec1::<f32>()?)
    }
}

/// ImageBind's vision transform: bicubic resize of the shorter side to `size`,
/// center crop, CLIP mean/std normalisation. Returns `[3, size, size]`.
pub fn preprocess_image(img: &RgbImage, size: usize, device: &Device) -> Result<Tensor> {
    const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
    const STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        bail!("cannot encode an empty {w}x{h} image");
    }
    let s = size as f64 / w.min(h) as f64;
    let (nw, nh) = (
        ((w as f64 * s).round() as u32).max(size as u32),
        ((h as f64 * s).round() as u32).max(size as u32),
    );
    let resized = image::imageops::resize(img, nw, nh, image::imageops::FilterType::CatmullRom);
    let (x0, y0) = ((nw - size as u32) / 2, (nh - size as u32) / 2);
    let crop = image::imageops::crop_imm(&resized, x0, y0, size as u32, size as u32).to_image();
    let mut data = vec![0f32; 3 * size * size];
    for (i, p) in crop.pixels().enumerate() {
        for c in 0..3 {
            data[c * size * size + i] = (p[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Ok(Tensor::from_vec(data, (3, size, size), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::VarMap;

    fn tiny_config() -> Config {
        let trunk = |pre, bias_kv| TrunkConfig {
            embed_dim: 16,
            num_blocks: 2,
            num_heads: 4,
            pre_transformer_ln: pre,
            add_bias_kv: bias_kv,
        };
        Config {
            vision: VisionConfig {
                trunk: trunk(true, false),
                image_size: 28,
                patch_size: 14,
                frames: 2,
            },
            audio: AudioConfig {
                trunk: trunk(false, true),
                num_mel_bins: 36,
                target_len: 46,
                kernel_size: 16,
                stride: 10,
            },
            out_embed_dim: 8,
        }
    }

    /// A tiny model with every parameter random (LayerNorms included).
    fn tiny_model() -> (ImageBind, VarMap) {
        let dev = Device::Cpu;
        let vm = VarMap::new();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &dev);
        // Shapes are fixed by the first construction; then randomise values and rebuild.
        ImageBind::new(&tiny_config(), vb.clone()).unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            let t = if name.ends_with("log_logit_scale") {
                Tensor::new(20f32.ln(), &dev).unwrap()
            } else {
                Tensor::randn(0f32, 0.3, var.shape(), &dev).unwrap()
            };
            var.set(&t).unwrap();
        }
        (ImageBind::new(&tiny_config(), vb).unwrap(), vm)
    }

    #[test]
    fn tensor_names_match_the_original_checkpoint() {
        let (_, vm) = tiny_model();
        let data = vm.data().lock().unwrap();
        let shape = |n: &str| {
            data.get(n)
                .unwrap_or_else(|| panic!("missing {n}"))
                .shape()
                .dims()
                .to_vec()
        };
        assert_eq!(
            shape("modality_preprocessors.vision.rgbt_stem.proj.1.weight"),
            [16, 3, 2, 14, 14]
        );
        assert_eq!(
            shape("modality_preprocessors.vision.pos_embedding_helper.pos_embed"),
            [1, 5, 16]
        );
        assert_eq!(
            shape("modality_trunks.vision.pre_transformer_layer.0.weight"),
            [16]
        );
        assert_eq!(
            shape("modality_trunks.vision.blocks.1.attn.in_proj_weight"),
            [48, 16]
        );
        assert_eq!(
            shape("modality_trunks.vision.blocks.0.mlp.fc1.weight"),
            [64, 16]
        );
        assert_eq!(shape("modality_heads.vision.2.weight"), [8, 16]);
        assert_eq!(
            shape("modality_preprocessors.audio.rgbt_stem.proj.weight"),
            [16, 1, 16, 16]
        );
        assert_eq!(
            shape("modality_preprocessors.audio.rgbt_stem.norm_layer.bias"),
            [16]
        );
        // (36-16)/10+1 = 3 by (46-16)/10+1 = 4 patches, plus the class token.
        assert_eq!(
            shape("modality_preprocessors.audio.pos_embedding_helper.pos_embed"),
            [1, 13, 16]
        );
        assert_eq!(
            shape("modality_trunks.audio.blocks.1.attn.bias_k"),
            [1, 1, 16]
        );
        assert!(shape("modality_postprocessors.audio.1.log_logit_scale").is_empty());
        assert!(!data.contains_key("modality_trunks.vision.blocks.0.attn.bias_k"));
        assert!(!data.keys().any(|k| k.contains("text")));
    }

    #[test]
    fn vision_shapes_normalisation_and_determinism() {
        let (m, _) = tiny_model();
        let x = Tensor::randn(0f32, 1.0, (2, 3, 28, 28), &Device::Cpu).unwrap();
        let a = m.vision.forward(&x).unwrap();
        assert_eq!(a.dims(), &[2, 8]);
        let norms = a.sqr().unwrap().sum(1).unwrap().to_vec1::<f32>().unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        let b = m.vision.forward(&x).unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        // The two images differ, so must their embeddings.
        let v = a.to_vec2::<f32>().unwrap();
        assert_ne!(v[0], v[1]);
        assert!(m
            .vision
            .forward(&Tensor::zeros((1, 3, 42, 42), DType::F32, &Device::Cpu).unwrap())
            .is_err());
    }

    #[test]
    fn image_equals_clip_of_two_identical_frames() {
        let (m, _) = tiny_model();
        let x = Tensor::randn(0f32, 1.0, (1, 3, 28, 28), &Device::Cpu).unwrap();
        let clip = Tensor::stack(&[&x, &x], 2).unwrap();
        let a = m.vision.forward(&x).unwrap();
        let b = m.vision.forward(&clip).unwrap();
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "{d}");
        // Different frames give a different embedding than either frame alone.
        let y = Tensor::randn(0f32, 1.0, (1, 3, 28, 28), &Device::Cpu).unwrap();
        let mixed = m
            .vision
            .forward(&Tensor::stack(&[&x, &y], 2).unwrap())
            .unwrap();
        let d = (mixed - m.vision.forward(&x).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap();
        assert!(d.to_scalar::<f32>().unwrap() > 1e-4);
    }

    #[test]
    fn audio_shapes_scale_and_determinism() {
        let (m, _) = tiny_model();
        let x = Tensor::randn(0f32, 1.0, (3, 1, 36, 46), &Device::Cpu).unwrap();
        let a = m.audio.forward(&x).unwrap();
        assert_eq!(a.dims(), &[3, 8]);
        let norms = a
            .sqr()
            .unwrap()
            .sum(1)
            .unwrap()
            .sqrt()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(norms.iter().all(|n| (n - 20.0).abs() < 1e-3), "{norms:?}");
        let b = m.audio.forward(&x).unwrap();
        assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        let wrong = Tensor::zeros((1, 1, 36, 40), DType::F32, &Device::Cpu).unwrap();
        let err = m.audio.forward(&wrong).unwrap_err().to_string();
        assert!(err.contains("[B, 1, 36, 46]"), "{err}");
    }

    #[test]
    fn bias_kv_changes_attention() {
        // With add_bias_kv the extra key/value token must take part in attention.
        let (m, vm) = tiny_model();
        let x = Tensor::randn(0f32, 1.0, (1, 1, 36, 46), &Device::Cpu).unwrap();
        let before = m.audio.forward(&x).unwrap();
        let data = vm.data().lock().unwrap();
        let bk = &data["modality_trunks.audio.blocks.0.attn.bias_v"];
        bk.set(&(bk.as_tensor() * 5.0).unwrap()).unwrap();
        drop(data);
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let m2 = ImageBind::new(&tiny_config(), vb).unwrap();
        let after = m2.audio.forward(&x).unwrap();
        let d = (before - after)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d > 1e-4, "{d}");
    }

    #[test]
    fn preprocess_image_shape_and_errors() {
        let img = RgbImage::from_pixel(300, 200, image::Rgb([255, 0, 0]));
        let t = preprocess_image(&img, 224, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[3, 224, 224]);
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let red = (1.0 - 0.481_454_66) / 0.268_629_54;
        assert!(
            (v[0] - red).abs() < 1e-3 && (v[224 * 224] + 0.457_827_5 / 0.261_302_6).abs() < 1e-3
        );
        assert!(preprocess_image(&RgbImage::new(4, 0), 224, &Device::Cpu).is_err());
        let err = ImageBind::load(Path::new("/nonexistent-imagebind"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("model.safetensors"), "{err}");
    }
}
