//! Fine-tuning the query encoder itself: LoRA on every linear map of
//! MiniLM's top transformer layers, trained with the linear adapter's
//! objective (InfoNCE with the whole catalog as negatives). The linear
//! adapter can only rotate a finished sentence vector; these layers still see
//! the tokens, so they can learn which words of a request name the task.
//!
//! The tool side keeps the plain model: queries learn to land on the existing
//! tool vectors, so the card index is shared with the untuned encoder. The
//! lower layers stay frozen, which makes their output a per-instruction
//! constant: it is computed once and cached, and only the top layers run
//! forward and backward in each step.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder};
use candle_transformers::models::bert::Config;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use safetensors::Dtype;
use tokenizers::Tokenizer;

use crate::adapter::{bar, contrastive_step, EpochLoss, TrainConfig};
use crate::minilm::{mean_pool, MiniLm, MODEL_DIR_NAME, MODEL_ID};
use crate::store::{f32_bytes, write_safetensors, Loaded, Raw};

/// The linear maps of a BERT layer that get a LoRA pair, named as in the
/// checkpoint (`encoder.layer.N.<name>.weight`).
const LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// Where `mmtool retrieval train --tune-layers N` caches its result.
pub fn tuned_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!("tuned-{MODEL_DIR_NAME}.safetensors"))
}

/// Trained LoRA pairs for the top `layers` layers.
pub struct TunedLayers {
    layers: usize,
    rank: usize,
    alpha: f64,
    /// `encoder.layer.N.<linear>.lora_a` (`[rank, in]`) and `.lora_b` (`[out, rank]`).
    tensors: HashMap<String, Tensor>,
    /// The file's metadata: how the run that made it was set up.
    info: HashMap<String, String>,
}

/// (in, out) of each of [`LINEARS`].
fn linear_dims(config: &Config) -> [(usize, usize); 6] {
    let (h, i) = (config.hidden_size, config.intermediate_size);
    [(h, h), (h, h), (h, h), (h, h), (h, i), (i, h)]
}

fn key(layer: usize, linear: &str, part: &str) -> String {
    format!("encoder.layer.{layer}.{linear}.{part}")
}

impl TunedLayers {
    /// LoRA pairs that change nothing yet (B = 0) for the top `layers`
    /// layers of a model with `config`.
    pub fn untrained(config: &Config, layers: usize, rank: usize) -> Result<Self> {
        let total = config.num_hidden_layers;
        if layers == 0 || layers > total || rank == 0 {
            anyhow::bail!("cannot tune {layers} of {total} layers at rank {rank}");
        }
        let mut tensors = HashMap::new();
        for l in total - layers..total {
            for (name, (inp, out)) in LINEARS.iter().zip(linear_dims(config)) {
                let a = Tensor::ones((rank, inp), DType::F32, &Device::Cpu)?;
                let b = Tensor::zeros((out, rank), DType::F32, &Device::Cpu)?;
                tensors.insert(key(l, name, "lora_a"), a);
                tensors.insert(key(l, name, "lora_b"), b);
            }
        }
        Ok(TunedLayers {
            layers,
            rank,
            alpha: rank as f64,
            tensors,
            info: HashMap::new(),
        })
    }

    pub fn layers(&self) -> usize {
        self.layers
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Metadata of a loaded file (the training run's settings and dev
    /// figures); empty for layers made in this process.
    pub fn info(&self) -> &HashMap<String, String> {
        &self.info
    }

    /// Index of the first tuned layer in a model of `total` layers.
    pub fn first_layer(&self, total: usize) -> Result<usize> {
        if self.layers == 0 || self.layers > total {
            anyhow::bail!(
                "tuned layers cover {} layers, the model has {total}",
                self.layers
            );
        }
        Ok(total - self.layers)
    }

    fn pair(&self, layer: usize, linear: &str) -> Result<(&Tensor, &Tensor)> {
        let get = |part: &str| {
            let k = key(layer, linear, part);
            self.tensors
                .get(&k)
                .with_context(|| format!("tuned layers lack tensor {k}"))
        };
        Ok((get("lora_a")?, get("lora_b")?))
    }

    fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Saves atomically as safetensors; `info` goes into the metadata.
    pub fn save(&self, path: &Path, info: &HashMap<String, String>) -> Result<()> {
        let mut meta = info.clone();
        meta.insert("model".into(), MODEL_ID.into());
        meta.insert("layers".into(), self.layers.to_string());
        meta.insert("rank".into(), self.rank.to_string());
        meta.insert("alpha".into(), self.alpha.to_string());
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let mut raws = Vec::with_capacity(names.len());
        for name in names {
            let t = &self.tensors[name];
            let data: Vec<f32> = t.flatten_all()?.to_vec1()?;
            raws.push(Raw {
                name,
                dtype: Dtype::F32,
                shape: t.dims().to_vec(),
                data: f32_bytes(&data),
            });
        }
        write_safetensors(path, &raws, meta)
    }

    /// Loads and checks a file written by [`TunedLayers::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let f = Loaded::read(path)?;
        let what = || format!("{}: not a tuned-layers file", path.display());
        if f.meta("model").with_context(what)? != MODEL_ID {
            anyhow::bail!("{}: tuned for another model", path.display());
        }
        let num = |k: &str| -> Result<f64> {
            f.meta(k)
                .with_context(what)?
                .parse::<f64>()
                .with_context(|| format!("{}: bad `{k}` in metadata", path.display()))
        };
        let (layers, rank, alpha) = (
            num("layers")? as usize,
            num("rank")? as usize,
            num("alpha")?,
        );
        if layers == 0 || rank == 0 {
            anyhow::bail!("{}: tunes {layers} layers at rank {rank}", path.display());
        }
        let mut tensors = HashMap::new();
        for name in f.names() {
            let (r, c, data) = f.matrix(&name)?;
            tensors.insert(name, Tensor::from_vec(data, (r, c), &Device::Cpu)?);
        }
        Ok(TunedLayers {
            layers,
            rank,
            alpha,
            tensors,
            info: f.metadata.clone(),
        })
    }

    /// The user's cached file, if one has been trained.
    pub fn load_cached(cache_dir: &Path) -> Result<Option<Self>> {
        let p = tuned_path(cache_dir);
        if !p.exists() {
            return Ok(None);
        }
        Self::load(&p).map(Some).with_context(|| {
            format!(
                "delete {} or retrain with `mmtool retrieval train --tune-layers N`",
                p.display()
            )
        })
    }
}

/// A frozen linear map, optionally with a LoRA pair applied on the side
/// (training) instead of merged into the weight (inference).
struct Lin {
    /// `[in, out]`, transposed once so the forward is a plain matmul.
    wt: Tensor,
    b: Tensor,
    lora: Option<(Tensor, Tensor, f64)>,
}

impl Lin {
    fn load(vb: &VarBuilder, name: &str, inp: usize, out: usize) -> Result<(Tensor, Tensor)> {
        let vb = vb.pp(name);
        Ok((vb.get((out, inp), "weight")?, vb.get(out, "bias")?))
    }

    /// `x`: `[n, in]`.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.matmul(&self.wt)?.broadcast_add(&self.b)?;
        match &self.lora {
            None => Ok(y),
            Some((a, b, scale)) => y + (x.matmul(&a.t()?)?.matmul(&b.t()?)? * *scale)?,
        }
    }
}

/// One BERT layer built from differentiable ops (candle-transformers' layer
/// uses a fused layer norm without a backward pass).
pub(crate) struct TopLayer {
    q: Lin,
    k: Lin,
    v: Lin,
    o: Lin,
    inter: Lin,
    out: Lin,
    ln1: (Tensor, Tensor),
    ln2: (Tensor, Tensor),
    heads: usize,
    eps: f32,
}

/// How a layer's LoRA pairs are given.
enum Lora<'a> {
    None,
    /// Trained pairs, merged into the weights.
    Merged(&'a TunedLayers),
    /// Separate tensors (training variables), looked up by linear name.
    Side(&'a HashMap<String, Tensor>, f64),
}

impl TopLayer {
    pub(crate) fn load(
        vb: &VarBuilder,
        config: &Config,
        index: usize,
        tuned: Option<&TunedLayers>,
    ) -> Result<Self> {
        Self::build(vb, config, index, tuned.map_or(Lora::None, Lora::Merged))
    }

    fn build(vb: &VarBuilder, config: &Config, index: usize, lora: Lora) -> Result<Self> {
        let h = config.hidden_size;
        if !h.is_multiple_of(config.num_attention_heads) {
            anyhow::bail!(
                "hidden size {h} is not a multiple of {} heads",
                config.num_attention_heads
            );
        }
        let lvb = vb.pp(format!("encoder.layer.{index}"));
        let mut lins = Vec::with_capacity(6);
        for (name, (inp, out)) in LINEARS.iter().zip(linear_dims(config)) {
            let (w, b) = Lin::load(&lvb, name, inp, out)?;
            let (w, side) = match &lora {
                Lora::None => (w, None),
                Lora::Merged(t) => {
                    let (a, bb) = t.pair(index, name)?;
                    if a.dims() != [t.rank, inp] || bb.dims() != [out, t.rank] {
                        anyhow::bail!(
                            "tuned layer {index} {name}: LoRA shapes {:?} and {:?} do not fit a {inp}->{out} map at rank {}",
                            a.dims(),
                            bb.dims(),
                            t.rank
                        );
                    }
                    ((w + (bb.matmul(a)? * t.scale())?)?, None)
                }
                Lora::Side(map, scale) => {
                    let get = |part: &str| {
                        let k = key(index, name, part);
                        map.get(&k).cloned().with_context(|| format!("no {k}"))
                    };
                    (w, Some((get("lora_a")?, get("lora_b")?, *scale)))
                }
            };
            lins.push(Lin {
                wt: w.t()?.contiguous()?,
                b,
                lora: side,
            });
        }
        let ln = |name: &str| -> Result<(Tensor, Tensor)> {
            let v = lvb.pp(name);
            Ok((v.get(h, "weight")?, v.get(h, "bias")?))
        };
        let ln1 = ln("attention.output.LayerNorm")?;
        let ln2 = ln("output.LayerNorm")?;
        let mut it = lins.into_iter();
        let mut next = || it.next().expect("six linears");
        Ok(TopLayer {
            q: next(),
            k: next(),
            v: next(),
            o: next(),
            inter: next(),
            out: next(),
            ln1,
            ln2,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps as f32,
        })
    }

    /// `x`: `[n, len, hidden]`; `bias`: `[n, 1, 1, len]` from [`attention_bias`].
    pub(crate) fn forward(&self, x: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        let (n, len, h) = x.dims3()?;
        let hd = h / self.heads;
        let x2 = x.reshape((n * len, h))?;
        let split = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((n, len, self.heads, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.q.forward(&x2)?)?;
        let k = split(self.k.forward(&x2)?)?;
        let v = split(self.v.forward(&x2)?)?;
        let scores = (q.matmul(&k.t()?)? / (hd as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let ctx = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n * len, h))?;
        let norm = |x: Tensor, (w, b): &(Tensor, Tensor)| {
            candle_nn::ops::layer_norm_slow(&x, w, b, self.eps)
        };
        let a = norm((self.o.forward(&ctx)? + &x2)?, &self.ln1)?;
        let mid = self.inter.forward(&a)?.gelu_erf()?;
        let y = norm((self.out.forward(&mid)? + &a)?, &self.ln2)?;
        y.reshape((n, len, h))
    }
}

/// Additive attention bias `[n, 1, 1, len]`: 0 on real tokens, a large
/// negative number on padding.
pub fn attention_bias(mask: &Tensor) -> candle_core::Result<Tensor> {
    let (n, len) = mask.dims2()?;
    ((1.0 - mask)? * -1e9)?.reshape((n, 1, 1, len))
}

/// Fine-tuning hyper-parameters: which layers, the LoRA shape, and the
/// optimisation settings the linear adapter uses too.
#[derive(Debug, Clone)]
pub struct TuneConfig {
    /// How many of the top layers get LoRA pairs.
    pub layers: usize,
    pub rank: usize,
    pub alpha: f64,
    /// Epochs, batch, peak learning rate (decayed by a cosine), weight decay,
    /// temperature, seed.
    pub opt: TrainConfig,
}

impl TuneConfig {
    /// Refuses settings the model cannot take, before any work is done.
    pub fn check(&self, config: &Config) -> Result<()> {
        let total = config.num_hidden_layers;
        if self.layers == 0 || self.layers > total || self.rank == 0 {
            anyhow::bail!(
                "cannot tune {} of the model's {total} layers at LoRA rank {} (--tune-layers 1..={total}, --tune-rank 1 or more)",
                self.layers,
                self.rank
            );
        }
        Ok(())
    }
}

impl Default for TuneConfig {
    fn default() -> Self {
        TuneConfig {
            layers: 2,
            rank: 16,
            alpha: 16.0,
            opt: TrainConfig {
                // A third epoch raised dev R@1 (hybrid) from 48.23 % to 48.88 % for the
                // shipped 3-layer query side (docs/retrieval.md).
                epochs: 3,
                batch: 64,
                lr: 1e-3,
                weight_decay: 0.01,
                temperature: 0.05,
                seed: 7,
            },
        }
    }
}

/// The model parts fine-tuning builds on (see [`MiniLm::read_dir`]).
pub struct Base {
    pub vb: VarBuilder<'static>,
    pub config: Config,
    pub tokenizer: Tokenizer,
}

impl Base {
    pub fn read(dir: &Path) -> Result<Self> {
        let (vb, config, tokenizer) = MiniLm::read_dir(dir)?;
        Ok(Base {
            vb,
            config,
            tokenizer,
        })
    }

    /// The query encoder with these tuned layers (LoRA merged in).
    pub fn encoder(&self, tuned: &TunedLayers) -> Result<MiniLm> {
        MiniLm::with_top(self.vb.clone(), &self.config, self.tokenizer.clone(), tuned)
    }
}

/// Training pairs for [`train`]: texts and, for each, the row of its tool in
/// `docs` (row-major unit tool vectors; every other row is a negative).
pub struct TextPairs<'a> {
    pub texts: &'a [&'a str],
    pub targets: &'a [usize],
    pub docs: &'a [f32],
}

/// Trains LoRA pairs on the top `cfg.layers` layers; returns them with the
/// mean loss of each epoch.
pub fn train(
    base: &Base,
    pairs: &TextPairs,
    cfg: &TuneConfig,
    progress: bool,
) -> Result<(TunedLayers, Vec<f32>)> {
    let total = base.config.num_hidden_layers;
    let d = base.config.hidden_size;
    let n = pairs.targets.len();
    if n == 0 || pairs.texts.len() != n {
        anyhow::bail!("no training pairs (or texts and targets of different lengths)");
    }
    cfg.check(&base.config)?;
    let first = total - cfg.layers;
    let dev = Device::Cpu;
    let docs_t = Tensor::from_slice(pairs.docs, (pairs.docs.len() / d, d), &dev)?
        .t()?
        .contiguous()?;

    // Batches of similar length, so little padding runs through the top
    // layers; their composition is fixed, their order shuffled per epoch.
    let lower = MiniLm::lower(base.vb.clone(), &base.config, base.tokenizer.clone(), first)?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (pairs.texts[i].len(), i));
    let pb = bar(
        n,
        progress,
        "{spinner} caching lower layers [{elapsed_precise}] {bar:30} {pos}/{len} eta {eta}",
    );
    let mut batches = Vec::with_capacity(n.div_ceil(cfg.opt.batch));
    for chunk in order.chunks(cfg.opt.batch) {
        let texts: Vec<&str> = chunk.iter().map(|&i| pairs.texts[i]).collect();
        let (hidden, mask) = lower.hidden(&texts)?;
        let bias = attention_bias(&mask)?;
        let y: Vec<u32> = chunk.iter().map(|&i| pairs.targets[i] as u32).collect();
        let y = Tensor::from_vec(y, chunk.len(), &dev)?;
        batches.push((hidden, mask, bias, y));
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();

    // LoRA pairs: A small random, B zero, so training starts from the plain model.
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.opt.seed);
    let mut vars = Vec::new();
    let mut side = HashMap::new();
    for layer in first..total {
        for (name, (inp, out)) in LINEARS.iter().zip(linear_dims(&base.config)) {
            let bound = 1.0 / (inp as f32).sqrt();
            let a: Vec<f32> = (0..cfg.rank * inp)
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            let a = Var::from_tensor(&Tensor::from_vec(a, (cfg.rank, inp), &dev)?)?;
            let b = Var::zeros((out, cfg.rank), DType::F32, &dev)?;
            side.insert(key(layer, name, "lora_a"), a.as_tensor().clone());
            side.insert(key(layer, name, "lora_b"), b.as_tensor().clone());
            vars.push(a);
            vars.push(b);
        }
    }
    let scale = cfg.alpha / cfg.rank as f64;
    let layers: Vec<TopLayer> = (first..total)
        .map(|l| TopLayer::build(&base.vb, &base.config, l, Lora::Side(&side, scale)))
        .collect::<Result<_>>()?;
    let mut opt = AdamW::new(
        vars,
        ParamsAdamW {
            lr: cfg.opt.lr,
            weight_decay: cfg.opt.weight_decay,
            ..Default::default()
        },
    )?;
    let steps = cfg.opt.epochs * batches.len();
    let pb = bar(
        steps,
        progress,
        "{spinner} tuning top layers [{elapsed_precise}] {bar:30} {pos}/{len} steps, eta {eta} {msg}",
    );
    let mut batch_order: Vec<usize> = (0..batches.len()).collect();
    let mut losses = Vec::with_capacity(cfg.opt.epochs);
    let mut step = 0usize;
    for epoch in 0..cfg.opt.epochs {
        batch_order.shuffle(&mut rng);
        let mut meter = EpochLoss::new(&pb, epoch);
        for &bi in &batch_order {
            // Cosine decay to zero over the whole run.
            let progress = step as f64 / steps as f64;
            opt.set_learning_rate(
                cfg.opt.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            );
            step += 1;
            let (hidden, mask, bias, y) = &batches[bi];
            let mut x = hidden.clone();
            for layer in &layers {
                x = layer.forward(&x, bias)?;
            }
            let q = mean_pool(&x, mask)?;
            let l = contrastive_step(&mut opt, &q, &docs_t, y, cfg.opt.temperature)?;
            meter.step(l, y.dim(0)?);
        }
        losses.push(meter.mean());
    }
    pb.finish_and_clear();
    // The side tensors share storage with the variables the optimiser updated.
    Ok((
        TunedLayers {
            layers: cfg.layers,
            rank: cfg.rank,
            alpha: cfg.alpha,
            tensors: side,
            info: HashMap::new(),
        },
        losses,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minilm::tests::tiny_parts;

    fn base() -> (Base, MiniLm) {
        let (vm, config, tokenizer) = tiny_parts();
        let vb = VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu);
        let plain = MiniLm::new(vb.clone(), &config, tokenizer.clone()).unwrap();
        (
            Base {
                vb,
                config,
                tokenizer,
            },
            plain,
        )
    }

    const TEXTS: [&str; 6] = [
        "translate this text to french",
        "translate the text to german",
        "make the blurry image sharp",
        "make this photo sharp",
        "speech audio to text",
        "the audio music",
    ];
    const TARGETS: [usize; 6] = [0, 0, 1, 1, 2, 2];

    /// Three tool vectors the untrained model does not separate the texts by.
    fn docs(dim: usize) -> Vec<f32> {
        let mut d = vec![0f32; 3 * dim];
        for t in 0..3 {
            d[t * dim + t] = 1.0;
        }
        d
    }

    fn top1(enc: &MiniLm, docs: &[f32]) -> Vec<usize> {
        let q = enc.embed(&TEXTS).unwrap();
        let dim = enc.dim();
        q.chunks(dim)
            .map(|q| {
                (0..3)
                    .max_by(|&a, &b| {
                        let s = |t: usize| -> f32 {
                            q.iter().zip(&docs[t * dim..]).map(|(x, y)| x * y).sum()
                        };
                        s(a).total_cmp(&s(b))
                    })
                    .unwrap()
            })
            .collect()
    }

    fn untrained(base: &Base, layers: usize, rank: usize) -> TunedLayers {
        TunedLayers::untrained(&base.config, layers, rank).unwrap()
    }

    #[test]
    fn zero_lora_layers_reproduce_the_plain_model() {
        let (base, plain) = base();
        let want = plain.embed(&TEXTS).unwrap();
        for layers in [1, 2] {
            let got = base
                .encoder(&untrained(&base, layers, 4))
                .unwrap()
                .embed(&TEXTS)
                .unwrap();
            let worst = want
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-5, "{layers} layers: max difference {worst}");
        }
    }

    #[test]
    fn training_moves_queries_onto_their_tools_and_leaves_the_base_alone() {
        let (base, plain) = base();
        let before = plain.embed(&TEXTS).unwrap();
        let docs = docs(base.config.hidden_size);
        assert_ne!(top1(&plain, &docs), TARGETS.to_vec());
        let cfg = TuneConfig {
            layers: 1,
            rank: 4,
            alpha: 4.0,
            opt: TrainConfig {
                epochs: 150,
                batch: 4,
                lr: 0.02,
                ..TuneConfig::default().opt
            },
        };
        let pairs = TextPairs {
            texts: &TEXTS,
            targets: &TARGETS,
            docs: &docs,
        };
        let (tuned, losses) = train(&base, &pairs, &cfg, false).unwrap();
        assert!(losses.last().unwrap() < &(losses[0] * 0.2), "{losses:?}");
        // The merged encoder (what inference uses) agrees with the side-car training graph.
        assert_eq!(
            top1(&base.encoder(&tuned).unwrap(), &docs),
            TARGETS.to_vec()
        );
        // Only the LoRA pairs were trained: the checkpoint's own weights are untouched.
        assert_eq!(plain.embed(&TEXTS).unwrap(), before);
        assert!(tuned
            .tensors
            .keys()
            .all(|k| k.starts_with("encoder.layer.1.")));
    }

    #[test]
    fn save_load_round_trip_and_clear_errors() {
        let (base, _) = base();
        let mut t = untrained(&base, 1, 2);
        // Non-zero B so the round trip is checked on a real change.
        for (k, v) in t.tensors.iter_mut() {
            if k.ends_with("lora_b") {
                *v = (v.ones_like().unwrap() * 0.01).unwrap();
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.safetensors");
        t.save(&p, &HashMap::from([("note".into(), "x".into())]))
            .unwrap();
        let back = TunedLayers::load(&p).unwrap();
        assert_eq!((back.layers(), back.rank()), (1, 2));
        assert_eq!(back.info().get("note").map(String::as_str), Some("x"));
        assert_eq!(back.info().get("layers").map(String::as_str), Some("1"));
        let a = base.encoder(&t).unwrap().embed(&TEXTS).unwrap();
        let b = base.encoder(&back).unwrap().embed(&TEXTS).unwrap();
        assert_eq!(a, b);

        // Tuned for more layers than the model has.
        let mut deep = untrained(&base, 1, 2);
        deep.layers = 3;
        let err = base.encoder(&deep).err().unwrap().to_string();
        assert!(err.contains("3 layers"), "{err}");
        // A missing pair names the tensor.
        let mut holes = untrained(&base, 1, 2);
        holes.tensors.remove("encoder.layer.1.output.dense.lora_b");
        let err = format!("{:#}", base.encoder(&holes).err().unwrap());
        assert!(err.contains("output.dense.lora_b"), "{err}");
        // Not a safetensors file.
        std::fs::write(&p, b"not a tensor file").unwrap();
        let err = TunedLayers::load(&p).err().unwrap().to_string();
        assert!(err.contains("t.safetensors"), "{err}");
    }
}
