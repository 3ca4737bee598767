//! A Llama-family decoder written for LoRA training and inference on CPU.
//!
//! Unlike `candle_transformers::models::llama`, every projection is reachable
//! (LoRA on q, k, v, o), the training path uses only ops that have a
//! backward pass (`rms_norm_slow`, `ops::softmax`, `rope_slow`/`rope_i_slow`;
//! the fused candle kernels silently stop gradients), the frozen base uses
//! [`FrozenLinear`] so no weight gradient is ever computed, and logits are
//! computed only for the hidden states the caller asks for.
//!
//! Tensors are named as in HuggingFace checkpoints (`model.layers.0.self_attn.q_proj.weight`);
//! the GGUF loader renames llama.cpp's names to these.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::frozen::FrozenLinear;

fn default_eps() -> f64 {
    1e-5
}
fn default_theta() -> f32 {
    10_000.
}
fn default_max_pos() -> usize {
    4096
}

/// The architecture, read from a HuggingFace `config.json` or GGUF metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    #[serde(default = "default_theta")]
    pub rope_theta: f32,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default = "default_max_pos")]
    pub max_position_embeddings: usize,
    /// GGUF files store q/k rows permuted for llama.cpp's interleaved rope
    /// (pairs `2i, 2i+1`); HuggingFace checkpoints rotate halves.
    #[serde(default)]
    pub rope_interleaved: bool,
}

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// A tiny configuration for tests.
    pub fn tiny(vocab_size: usize) -> Self {
        Config {
            vocab_size,
            hidden_size: 32,
            intermediate_size: 64,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.,
            tie_word_embeddings: true,
            max_position_embeddings: 256,
            rope_interleaved: false,
        }
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return Err(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if self.kv_heads() == 0 || !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return Err(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "head dimension {} must be even for rope",
                self.head_dim()
            ));
        }
        Ok(())
    }
}

/// Which layers and projections get LoRA, and its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// Layer indices with LoRA; empty means every layer.
    #[serde(default)]
    pub layers: Vec<usize>,
    /// Which attention projections: any of `q`, `k`, `v`, `o`.
    #[serde(default = "default_targets")]
    pub targets: Vec<String>,
}

fn default_targets() -> Vec<String> {
    ["q", "k", "v", "o"].iter().map(|s| s.to_string()).collect()
}

impl Default for LoraConfig {
    /// The paper's setting: r=32, alpha=32, dropout 0.1 on q,k,v,o of all layers.
    fn default() -> Self {
        LoraConfig {
            rank: 32,
            alpha: 32.,
            dropout: 0.1,
            layers: Vec::new(),
            targets: default_targets(),
        }
    }
}

impl LoraConfig {
    pub fn has_layer(&self, layer: usize) -> bool {
        self.layers.is_empty() || self.layers.contains(&layer)
    }

    /// The lowest layer with LoRA: below it, for inputs without a trainable
    /// media token, hidden states never change during training.
    pub fn first_layer(&self) -> usize {
        self.layers.iter().copied().min().unwrap_or(0)
    }

    pub fn validate(&self, n_layers: usize) -> std::result::Result<(), String> {
        if self.rank == 0 {
            return Err("lora rank must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("lora dropout {} must be in [0, 1)", self.dropout));
        }
        if let Some(bad) = self.layers.iter().find(|&&l| l >= n_layers) {
            return Err(format!(
                "lora layer {bad} does not exist (the model has {n_layers} layers)"
            ));
        }
        for t in &self.targets {
            if !["q", "k", "v", "o"].contains(&t.as_str()) {
                return Err(format!("unknown lora target {t:?} (expected q, k, v or o)"));
            }
        }
        Ok(())
    }
}

struct Lora {
    a: Tensor,
    b: Tensor,
    scale: f64,
    dropout: f32,
}

/// A frozen projection with an optional LoRA branch: `W x + (alpha/r) B A drop(x)`.
struct Proj {
    base: FrozenLinear,
    lora: Option<Lora>,
}

impl Proj {
    fn forward(&self, x: &Tensor, train: bool, drop: &DropoutRng) -> Result<Tensor> {
        let y = self.base.forward(x, train)?;
        match &self.lora {
            None => Ok(y),
            Some(l) => {
                let x = if train && l.dropout > 0. {
                    drop.apply(x, l.dropout)?
                } else {
                    x.clone()
                };
                let d = x.broadcast_matmul(&l.a.t()?)?.broadcast_matmul(&l.b.t()?)?;
                y + (d * l.scale)?
            }
        }
    }
}

/// Seeded dropout: candle's `ops::dropout` draws from an unseedable RNG,
/// which would make `--resume` diverge from an uninterrupted run.
#[derive(Default)]
struct DropoutRng {
    seed: AtomicU64,
    calls: AtomicU64,
}

impl DropoutRng {
    fn apply(&self, x: &Tensor, p: f32) -> Result<Tensor> {
        use rand::{Rng, SeedableRng};
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let seed = self.seed.load(Ordering::Relaxed) ^ call.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keep = 1. / (1. - p);
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.random::<f32>() < p { 0. } else { keep })
            .collect();
        x * Tensor::from_vec(mask, x.shape(), x.device())?
    }
}

struct Block {
    attn_norm: Tensor,
    q: Proj,
    k: Proj,
    v: Proj,
    o: Proj,
    mlp_norm: Tensor,
    gate: FrozenLinear,
    up: FrozenLinear,
    down: FrozenLinear,
}

/// Per-layer attention keys and values, `[batch, kv_heads, seq, head_dim]`.
#[derive(Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        KvCache {
            layers: vec![None; n_layers],
        }
    }

    /// Number of cached positions.
    pub fn len(&self) -> usize {
        self.layers
            .iter()
            .flatten()
            .next()
            .map(|(k, _)| k.dim(2).unwrap_or(0))
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps (and repeats) batch rows: row `i` of the result is row `rows[i]`.
    pub fn select_rows(&self, rows: &[u32]) -> Result<Self> {
        let Some(dev) = self
            .layers
            .iter()
            .flatten()
            .next()
            .map(|(k, _)| k.device().clone())
        else {
            return Ok(self.clone());
        };
        let idx = Tensor::new(rows, &dev)?;
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                Some((k, v)) => Ok(Some((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?))),
                None => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers })
    }
}

/// The base LLM (frozen) with its trainable parts: LoRA adapters and the
/// media projection. The trainable tensors live in [`Mllm::varmap`].
pub struct Mllm {
    cfg: Config,
    lora_cfg: LoraConfig,
    media_dim: usize,
    embed: Tensor,
    layers: Vec<Block>,
    norm: Tensor,
    lm_head: Tensor,
    cos: Tensor,
    sin: Tensor,
    proj_w: Tensor,
    proj_b: Tensor,
    varmap: VarMap,
    device: Device,
    dropout: DropoutRng,
}

/// Name of the media projection's weight in adapter files.
pub const MEDIA_PROJ: &str = "media_proj";

impl Mllm {
    /// Builds the model from base weights named as in HuggingFace checkpoints.
    /// LoRA `A` starts random (Kaiming-uniform as in PEFT), `B` at zero, so a
    /// fresh adapter leaves the base model's outputs unchanged.
    pub fn new(
        cfg: Config,
        base: VarBuilder,
        lora_cfg: LoraConfig,
        media_dim: usize,
    ) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::msg)?;
        lora_cfg
            .validate(cfg.num_hidden_layers)
            .map_err(candle_core::Error::msg)?;
        let device = base.device().clone();
        let varmap = VarMap::new();
        let train_vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
        let (h, hd, kvh) = (cfg.hidden_size, cfg.head_dim(), cfg.kv_heads());
        let m = base.pp("model");
        let embed = m.get((cfg.vocab_size, h), "embed_tokens.weight")?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let l = m.pp(format!("layers.{i}"));
            let lt = train_vb.pp(format!("model.layers.{i}.self_attn"));
            let proj = |name: &str, short: &str, out: usize, inp: usize| -> Result<Proj> {
                let w = l
                    .pp("self_attn")
                    .get((out, inp), &format!("{name}.weight"))?;
                let lora = if lora_cfg.has_layer(i) && lora_cfg.targets.iter().any(|t| t == short) {
                    let r = lora_cfg.rank;
                    let bound = 1. / (inp as f64).sqrt();
                    let a = lt.pp(name).get_with_hints(
                        (r, inp),
                        "lora_A.weight",
                        Init::Uniform {
                            lo: -bound,
                            up: bound,
                        },
                    )?;
                    let b =
                        lt.pp(name)
                            .get_with_hints((out, r), "lora_B.weight", Init::Const(0.))?;
                    Some(Lora {
                        a,
                        b,
                        scale: lora_cfg.alpha / r as f64,
                        dropout: lora_cfg.dropout,
                    })
                } else {
                    None
                };
                Ok(Proj {
                    base: FrozenLinear::new(w),
                    lora,
                })
            };
            let lin = |name: &str, out: usize, inp: usize| -> Result<FrozenLinear> {
                Ok(FrozenLinear::new(
                    l.pp("mlp").get((out, inp), &format!("{name}.weight"))?,
                ))
            };
            layers.push(Block {
                attn_norm: l.get(h, "input_layernorm.weight")?,
                q: proj("q_proj", "q", cfg.num_attention_heads * hd, h)?,
                k: proj("k_proj", "k", kvh * hd, h)?,
                v: proj("v_proj", "v", kvh * hd, h)?,
                o: proj("o_proj", "o", h, cfg.num_attention_heads * hd)?,
                mlp_norm: l.get(h, "post_attention_layernorm.weight")?,
                gate: lin("gate_proj", cfg.intermediate_size, h)?,
                up: lin("up_proj", cfg.intermediate_size, h)?,
                down: lin("down_proj", h, cfg.intermediate_size)?,
            });
        }
        let norm = m.get(h, "norm.weight")?;
        let lm_head = if cfg.tie_word_embeddings || !base.contains_tensor("lm_head.weight") {
            embed.clone()
        } else {
            base.get((cfg.vocab_size, h), "lm_head.weight")?
        };
        let bound = 1. / (media_dim.max(1) as f64).sqrt();
        let pv = train_vb.pp(MEDIA_PROJ);
        let proj_w = pv.get_with_hints(
            (h, media_dim),
            "weight",
            Init::Uniform {
                lo: -bound,
                up: bound,
            },
        )?;
        let proj_b = pv.get_with_hints(h, "bias", Init::Const(0.))?;
        let (cos, sin) = rope_tables(&cfg, &device)?;
        Ok(Mllm {
            cfg,
            lora_cfg,
            media_dim,
            embed,
            layers,
            norm,
            lm_head,
            cos,
            sin,
            proj_w,
            proj_b,
            varmap,
            device,
            dropout: DropoutRng::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }
    pub fn lora_config(&self) -> &LoraConfig {
        &self.lora_cfg
    }
    pub fn media_dim(&self) -> usize {
        self.media_dim
    }
    pub fn device(&self) -> &Device {
        &self.device
    }
    /// The trainable tensors (LoRA `A`/`B`, media projection).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Token embeddings, `[batch, seq]` ids to `[batch, seq, hidden]`.
    pub fn embed_tokens(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        self.embed
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, self.cfg.hidden_size))
    }

    /// The media soft token: `[batch, media_dim]` to `[batch, hidden]`.
    pub fn project_media(&self, media: &Tensor) -> Result<Tensor> {
        media
            .broadcast_matmul(&self.proj_w.t()?)?
            .broadcast_add(&self.proj_b)
    }

    /// Input embeddings for one sequence with the media soft token at `slot`
    /// (the id at `slot` is a placeholder and is ignored): `[1, seq, hidden]`.
    pub fn embed_with_media(&self, ids: &[u32], media: Option<(usize, &Tensor)>) -> Result<Tensor> {
        let t = Tensor::new(ids, &self.device)?.unsqueeze(0)?;
        let e = self.embed_tokens(&t)?;
        let Some((slot, m)) = media else {
            return Ok(e);
        };
        if slot >= ids.len() {
            candle_core::bail!(
                "media slot {slot} is outside a {}-token sequence",
                ids.len()
            );
        }
        let m = m.reshape((1, self.media_dim))?;
        let tok = self.project_media(&m)?.unsqueeze(0)?;
        let mut parts = Vec::with_capacity(3);
        if slot > 0 {
            parts.push(e.narrow(1, 0, slot)?);
        }
        parts.push(tok);
        if slot + 1 < ids.len() {
            parts.push(e.narrow(1, slot + 1, ids.len() - slot - 1)?);
        }
        Tensor::cat(&parts, 1)
    }

    /// Runs decoder layers `layers` over `h` (`[batch, seq, hidden]`) whose
    /// first position is absolute position `index_pos`. With a cache, keys
    /// and values are appended to it. `train` selects the differentiable ops
    /// and enables LoRA dropout.
    pub fn forward_layers(
        &self,
        h: &Tensor,
        layers: Range<usize>,
        index_pos: usize,
        mut cache: Option<&mut KvCache>,
        train: bool,
    ) -> Result<Tensor> {
        let (_b, t, _) = h.dims3()?;
        if index_pos + t > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {} positions exceeds the model's maximum {}",
                index_pos + t,
                self.cfg.max_position_embeddings
            );
        }
        let cos = self.cos.narrow(0, index_pos, t)?;
        let sin = self.sin.narrow(0, index_pos, t)?;
        let mut h = h.clone();
        for i in layers {
            let kv = match cache.as_deref_mut() {
                Some(c) => {
                    if c.layers.len() < self.layers.len() {
                        c.layers.resize(self.layers.len(), None);
                    }
                    Some(&mut c.layers[i])
                }
                None => None,
            };
            h = self.block(i, &h, &cos, &sin, kv, None, train)?;
        }
        Ok(h)
    }

    /// Runs a token tree after a cached prompt in one pass (tree attention):
    /// node `i` holds `tokens[i]`, its parent is node `parents[i]` (`None`:
    /// the prompt's last position), parents come before their children. Each
    /// node attends to the whole prompt and to its own ancestors only, at
    /// position `prompt length + depth`, so its hidden state is exactly what
    /// feeding its branch alone would give. The cache is not changed.
    /// Returns `[1, nodes, hidden]`.
    pub fn forward_tree(
        &self,
        cache: &KvCache,
        tokens: &[u32],
        parents: &[Option<usize>],
    ) -> Result<Tensor> {
        let n = tokens.len();
        if parents.len() != n {
            candle_core::bail!("{n} tree tokens but {} parents", parents.len());
        }
        let prompt = cache.len();
        let mut depth = vec![0usize; n];
        for (i, p) in parents.iter().enumerate() {
            if let Some(p) = *p {
                if p >= i {
                    candle_core::bail!("tree node {i} comes before its parent {p}");
                }
                depth[i] = depth[p] + 1;
            }
        }
        let max_depth = depth.iter().copied().max().unwrap_or(0);
        if prompt + max_depth + 1 > self.cfg.max_position_embeddings {
            candle_core::bail!(
                "sequence of {} positions exceeds the model's maximum {}",
                prompt + max_depth + 1,
                self.cfg.max_position_embeddings
            );
        }
        let pos: Vec<u32> = depth.iter().map(|d| (prompt + d) as u32).collect();
        let pos = Tensor::new(pos.as_slice(), &self.device)?;
        let cos = self.cos.index_select(&pos, 0)?;
        let sin = self.sin.index_select(&pos, 0)?;
        // Row i may see the prompt, itself and its ancestors.
        let mut mask = vec![f32::NEG_INFINITY; n * (prompt + n)];
        for i in 0..n {
            let row = &mut mask[i * (prompt + n)..(i + 1) * (prompt + n)];
            row[..prompt].fill(0.);
            let mut a = Some(i);
            while let Some(j) = a {
                row[prompt + j] = 0.;
                a = parents[j];
            }
        }
        let mask = Tensor::from_vec(mask, (n, prompt + n), &self.device)?;
        let ids = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let mut h = self.embed_tokens(&ids)?;
        let mut kv = cache.clone();
        kv.layers.resize(self.layers.len(), None);
        for (i, slot) in kv.layers.iter_mut().enumerate() {
            h = self.block(i, &h, &cos, &sin, Some(slot), Some(&mask), false)?;
        }
        Ok(h)
    }

    /// One decoder block. `mask` replaces the causal mask (tree attention).
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        i: usize,
        x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        kv: Option<&mut Option<(Tensor, Tensor)>>,
        mask: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor> {
        let l = &self.layers[i];
        let (b, t, hsz) = x.dims3()?;
        let (nh, kvh, hd) = (
            self.cfg.num_attention_heads,
            self.cfg.kv_heads(),
            self.cfg.head_dim(),
        );
        let xn = self.rms(x, &l.attn_norm, train)?;
        let q =
            l.q.forward(&xn, train, &self.dropout)?
                .reshape((b, t, nh, hd))?
                .transpose(1, 2)?
                .contiguous()?;
        let k =
            l.k.forward(&xn, train, &self.dropout)?
                .reshape((b, t, kvh, hd))?
                .transpose(1, 2)?
                .contiguous()?;
        let v =
            l.v.forward(&xn, train, &self.dropout)?
                .reshape((b, t, kvh, hd))?
                .transpose(1, 2)?
                .contiguous()?;
        let (q, k) = (
            self.rope(&q, cos, sin, train)?,
            self.rope(&k, cos, sin, train)?,
        );
        let (k, v) = match kv {
            Some(slot) => {
                let (k, v) = match slot.take() {
                    Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 2)?, Tensor::cat(&[&pv, &v], 2)?),
                    None => (k, v),
                };
                *slot = Some((k.clone(), v.clone()));
                (k, v)
            }
            None => (k, v),
        };
        let kv_len = k.dim(2)?;
        let k = repeat_kv(&k, nh / kvh)?;
        let v = repeat_kv(&v, nh / kvh)?;
        let att = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?;
        let att = match mask {
            Some(m) => att.broadcast_add(m)?,
            None if t > 1 => {
                att.broadcast_add(&causal_mask(t, kv_len, kv_len - t, &self.device)?)?
            }
            None => att,
        };
        let att = if train {
            candle_nn::ops::softmax(&att, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&att)?
        };
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, t, hsz))?;
        let x = (x + l.o.forward(&y, train, &self.dropout)?)?;
        let xn = self.rms(&x, &l.mlp_norm, train)?;
        let g = l.gate.forward(&xn, train)?.silu()?;
        let u = l.up.forward(&xn, train)?;
        x + l.down.forward(&(g * u)?, train)?
    }

    fn rms(&self, x: &Tensor, w: &Tensor, train: bool) -> Result<Tensor> {
        let eps = self.cfg.rms_norm_eps as f32;
        if train {
            candle_nn::ops::rms_norm_slow(x, w, eps)
        } else {
            candle_nn::ops::rms_norm(x, w, eps)
        }
    }

    fn rope(&self, x: &Tensor, cos: &Tensor, sin: &Tensor, train: bool) -> Result<Tensor> {
        use candle_nn::rotary_emb as re;
        match (self.cfg.rope_interleaved, train) {
            (true, true) => re::rope_i_slow(x, cos, sin),
            (true, false) => re::rope_i(x, cos, sin),
            (false, true) => re::rope_slow(x, cos, sin),
            (false, false) => re::rope(x, cos, sin),
        }
    }

    /// Final norm and output layer for selected hidden states `[n, hidden]`
    /// (or `[.., hidden]`): logits `[n, vocab]`.
    pub fn logits(&self, h: &Tensor, train: bool) -> Result<Tensor> {
        let h = self.rms(h, &self.norm, train)?;
        if train {
            FrozenLinear::new(self.lm_head.clone()).forward(&h, true)
        } else {
            h.broadcast_matmul(&self.lm_head.t()?)
        }
    }

    /// Re-draws LoRA `A` and the media projection from `seed` (candle's own
    /// initialisers are not seedable) and zeroes LoRA `B`, so a training run
    /// is reproducible from its config.
    pub fn reset_trainable(&self, seed: u64) -> Result<()> {
        use rand::SeedableRng;
        use rand_distr::Distribution;
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let data = self.varmap.data().lock().expect("varmap lock");
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            let var = &data[name];
            if name.ends_with("lora_B.weight") || name.ends_with(".bias") {
                var.set(&var.zeros_like()?)?;
            } else {
                let fan_in = var.dim(1)?;
                let bound = 1. / (fan_in as f32).sqrt();
                let u =
                    rand_distr::Uniform::new(-bound, bound).map_err(candle_core::Error::wrap)?;
                let v: Vec<f32> = (0..var.elem_count()).map(|_| u.sample(&mut rng)).collect();
                var.set(&Tensor::from_vec(v, var.shape(), &self.device)?)?;
            }
        }
        Ok(())
    }

    /// Restarts the dropout stream; the trainer calls it with a per-step seed.
    pub fn seed_dropout(&self, seed: u64) {
        self.dropout.seed.store(seed, Ordering::Relaxed);
        self.dropout.calls.store(0, Ordering::Relaxed);
    }

    /// Number of decoder layers.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Whole-model logits at every position, for tests and diagnostics.
    pub fn forward_all(&self, ids: &Tensor) -> Result<Tensor> {
        let h = self.embed_tokens(ids)?;
        let h = self.forward_layers(&h, 0..self.layers.len(), 0, None, false)?;
        self.logits(&h, false)
    }
}

impl Module for FrozenLinear {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        FrozenLinear::forward(self, xs, false)
    }
}

/// Grouped-query attention: each key/value head serves `n_rep` query heads.
/// (Same as `candle_transformers::utils::repeat_kv`; written here so this
/// crate does not pull in all of candle-transformers for four lines.)
fn repeat_kv(x: &Tensor, n_rep: usize) -> Result<Tensor> {
    if n_rep == 1 {
        return x.contiguous();
    }
    let (b, kvh, t, d) = x.dims4()?;
    Tensor::cat(&vec![x; n_rep], 2)?.reshape((b, kvh * n_rep, t, d))
}

fn rope_tables(cfg: &Config, dev: &Device) -> Result<(Tensor, Tensor)> {
    let hd = cfg.head_dim();
    let inv: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1. / cfg.rope_theta.powf(i as f32 / hd as f32))
        .collect();
    let inv = Tensor::new(inv.as_slice(), dev)?.reshape((1, hd / 2))?;
    let pos = Tensor::arange(0u32, cfg.max_position_embeddings as u32, dev)?
        .to_dtype(DType::F32)?
        .reshape((cfg.max_position_embeddings, 1))?;
    let freqs = pos.matmul(&inv)?;
    Ok((freqs.cos()?, freqs.sin()?))
}

/// Additive mask `[t, kv_len]`: query `i` (absolute `offset + i`) sees keys `<= offset + i`.
fn causal_mask(t: usize, kv_len: usize, offset: usize, dev: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..kv_len).map(move |j| {
                if j > offset + i {
                    f32::NEG_INFINITY
                } else {
                    0.
                }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, kv_len), dev)
}

/// Random base weights for a config, named as in HuggingFace checkpoints (tests).
pub fn random_base(
    cfg: &Config,
    seed: u64,
    dev: &Device,
) -> Result<std::collections::HashMap<String, Tensor>> {
    use rand::SeedableRng;
    use rand_distr::Distribution;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let normal = rand_distr::Normal::new(0f32, 0.1).map_err(candle_core::Error::wrap)?;
    let mut t = |shape: &[usize]| -> Result<Tensor> {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| normal.sample(&mut rng)).collect();
        Tensor::from_vec(v, shape, dev)
    };
    let (h, hd, kvh, nh, im) = (
        cfg.hidden_size,
        cfg.head_dim(),
        cfg.kv_heads(),
        cfg.num_attention_heads,
        cfg.intermediate_size,
    );
    let mut m = std::collections::HashMap::new();
    m.insert(
        "model.embed_tokens.weight".to_string(),
        t(&[cfg.vocab_size, h])?,
    );
    m.insert(
        "model.norm.weight".to_string(),
        Tensor::ones(h, DType::F32, dev)?,
    );
    if !cfg.tie_word_embeddings {
        m.insert("lm_head.weight".to_string(), t(&[cfg.vocab_size, h])?);
    }
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        m.insert(format!("{p}.self_attn.q_proj.weight"), t(&[nh * hd, h])?);
        m.insert(format!("{p}.self_attn.k_proj.weight"), t(&[kvh * hd, h])?);
        m.insert(format!("{p}.self_attn.v_proj.weight"), t(&[kvh * hd, h])?);
        m.insert(format!("{p}.self_attn.o_proj.weight"), t(&[h, nh * hd])?);
        m.insert(format!("{p}.mlp.gate_proj.weight"), t(&[im, h])?);
        m.insert(format!("{p}.mlp.up_proj.weight"), t(&[im, h])?);
        m.insert(format!("{p}.mlp.down_proj.weight"), t(&[h, im])?);
        m.insert(
            format!("{p}.input_layernorm.weight"),
            Tensor::ones(h, DType::F32, dev)?,
        );
        m.insert(
            format!("{p}.post_attention_layernorm.weight"),
            Tensor::ones(h, DType::F32, dev)?,
        );
    }
    Ok(m)
}
