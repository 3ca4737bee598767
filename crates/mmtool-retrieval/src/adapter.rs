//! Contrastive fine-tuning of the retriever's query side: a residual linear
//! map on top of the frozen MiniLM sentence embedding,
//! `q' = normalize(q + q W)`, trained so that an instruction lands closest
//! to its tool's vector. The whole catalog serves as negatives (a superset
//! of in-batch and same-task hard negatives), which is affordable because
//! the tool side is frozen and precomputed. W starts at zero, so an
//! untrained adapter is the identity.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use indicatif::{ProgressBar, ProgressStyle};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use safetensors::Dtype;

use crate::minilm::{normalize_rows, MODEL_DIR_NAME, MODEL_ID};
use crate::store::{f32_bytes, write_safetensors, Loaded, Raw};

const WEIGHT: &str = "adapter.weight";

/// The fine-tuned query map.
pub struct Adapter {
    w: Tensor,
    dim: usize,
}

/// Where the fine-tuned adapter is cached.
pub fn adapter_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!("adapter-{MODEL_DIR_NAME}.safetensors"))
}

impl Adapter {
    /// The identity map.
    pub fn identity(dim: usize) -> Result<Self> {
        Ok(Adapter {
            w: Tensor::zeros((dim, dim), DType::F32, &Device::Cpu)?,
            dim,
        })
    }

    fn forward(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
        normalize_rows(&(x + x.matmul(w)?)?)
    }

    /// Maps row-major unit query vectors.
    pub fn apply(&self, rows: &[f32]) -> Result<Vec<f32>> {
        let n = rows.len() / self.dim;
        let x = Tensor::from_slice(rows, (n, self.dim), &Device::Cpu)?;
        Ok(Self::forward(&x, &self.w)?.flatten_all()?.to_vec1()?)
    }

    /// Saves atomically (safetensors, tensor `adapter.weight`).
    pub fn save(&self, path: &Path, info: &HashMap<String, String>) -> Result<()> {
        let mut meta = info.clone();
        meta.insert("model".into(), MODEL_ID.into());
        let w: Vec<f32> = self.w.flatten_all()?.to_vec1()?;
        write_safetensors(
            path,
            &[Raw {
                name: WEIGHT,
                dtype: Dtype::F32,
                shape: vec![self.dim, self.dim],
                data: f32_bytes(&w),
            }],
            meta,
        )
    }

    pub fn load(path: &Path, dim: usize) -> Result<Self> {
        let f = Loaded::read(path)?;
        if f.meta("model")? != MODEL_ID {
            anyhow::bail!("{}: adapter was trained for another model", path.display());
        }
        let (r, c, data) = f.matrix(WEIGHT)?;
        if r != dim || c != dim {
            anyhow::bail!(
                "{}: adapter is {r}x{c}, the model needs {dim}x{dim}",
                path.display()
            );
        }
        Ok(Adapter {
            w: Tensor::from_vec(data, (dim, dim), &Device::Cpu)?,
            dim,
        })
    }

    /// The cached adapter, if one has been trained.
    pub fn load_cached(cache_dir: &Path, dim: usize) -> Result<Option<Self>> {
        let p = adapter_path(cache_dir);
        if !p.exists() {
            return Ok(None);
        }
        Self::load(&p, dim).map(Some).with_context(|| {
            format!(
                "delete {} or retrain with `mmtool retrieval train`",
                p.display()
            )
        })
    }
}

/// Fine-tuning hyper-parameters.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Softmax temperature over cosines.
    pub temperature: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 8,
            batch: 256,
            lr: 1e-3,
            weight_decay: 0.01,
            temperature: 0.05,
            seed: 7,
        }
    }
}

/// Training pairs: query vectors and, for each, the row of its tool in `docs`.
pub struct Pairs<'a> {
    pub dim: usize,
    pub queries: &'a [f32],
    pub targets: &'a [usize],
    /// Row-major tool vectors (the negatives are every other row).
    pub docs: &'a [f32],
}

/// A progress bar with `template`, hidden when `progress` is off.
pub(crate) fn bar(len: usize, progress: bool, template: &str) -> ProgressBar {
    let pb = if progress {
        ProgressBar::new(len as u64)
    } else {
        ProgressBar::hidden()
    };
    pb.set_style(ProgressStyle::with_template(template).expect("static template"));
    pb
}

/// One optimiser step of InfoNCE: unit queries `q` (`[b, dim]`) against every
/// tool (`docs_t`, `[dim, tools]`), `y` the right tool of each; returns the loss.
pub(crate) fn contrastive_step(
    opt: &mut AdamW,
    q: &Tensor,
    docs_t: &Tensor,
    y: &Tensor,
    temperature: f64,
) -> Result<f32> {
    let logits = (q.matmul(docs_t)? / temperature)?;
    let loss = candle_nn::loss::cross_entropy(&logits, y)?;
    opt.backward_step(&loss)?;
    Ok(loss.to_scalar::<f32>()?)
}

/// Mean loss of an epoch, shown on the progress bar as steps go.
pub(crate) struct EpochLoss<'a> {
    pb: &'a ProgressBar,
    epoch: usize,
    sum: f32,
    count: usize,
}

impl<'a> EpochLoss<'a> {
    pub fn new(pb: &'a ProgressBar, epoch: usize) -> Self {
        EpochLoss {
            pb,
            epoch,
            sum: 0.0,
            count: 0,
        }
    }

    /// One step's mean loss over `n` pairs.
    pub fn step(&mut self, loss: f32, n: usize) {
        self.sum += loss * n as f32;
        self.count += n;
        self.pb.inc(1);
        self.pb
            .set_message(format!("epoch {}, loss {loss:.3}", self.epoch + 1));
    }

    pub fn mean(&self) -> f32 {
        self.sum / self.count.max(1) as f32
    }
}

/// Trains an adapter; returns it with the mean loss of each epoch.
pub fn train(pairs: &Pairs, cfg: &TrainConfig, progress: bool) -> Result<(Adapter, Vec<f32>)> {
    let d = pairs.dim;
    let n = pairs.targets.len();
    if n == 0 || pairs.queries.len() != n * d {
        anyhow::bail!("no training pairs (or query matrix of the wrong size)");
    }
    let dev = Device::Cpu;
    let docs_t = Tensor::from_slice(pairs.docs, (pairs.docs.len() / d, d), &dev)?
        .t()?
        .contiguous()?;
    let w = Var::zeros((d, d), DType::F32, &dev)?;
    let mut opt = AdamW::new(
        vec![w.clone()],
        ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let steps = cfg.epochs * n.div_ceil(cfg.batch);
    let pb = bar(
        steps,
        progress,
        "{spinner} fine-tune [{elapsed_precise}] {bar:30} {pos}/{len} steps, {msg}",
    );
    let mut losses = Vec::with_capacity(cfg.epochs);
    for epoch in 0..cfg.epochs {
        order.shuffle(&mut rng);
        let mut meter = EpochLoss::new(&pb, epoch);
        for chunk in order.chunks(cfg.batch) {
            let mut xb = Vec::with_capacity(chunk.len() * d);
            let mut yb = Vec::with_capacity(chunk.len());
            for &i in chunk {
                xb.extend_from_slice(&pairs.queries[i * d..(i + 1) * d]);
                yb.push(pairs.targets[i] as u32);
            }
            let x = Tensor::from_vec(xb, (chunk.len(), d), &dev)?;
            let y = Tensor::from_vec(yb, chunk.len(), &dev)?;
            let q = Adapter::forward(&x, w.as_tensor())?;
            let l = contrastive_step(&mut opt, &q, &docs_t, &y, cfg.temperature)?;
            meter.step(l, chunk.len());
        }
        losses.push(meter.mean());
    }
    pb.finish_and_clear();
    Ok((
        Adapter {
            w: w.as_tensor().clone(),
            dim: d,
        },
        losses,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::top_n;

    fn unit(v: &[f32]) -> Vec<f32> {
        let mut v = v.to_vec();
        crate::minilm::normalize(&mut v);
        v
    }

    #[test]
    fn identity_adapter_keeps_vectors_and_round_trips() {
        let a = Adapter::identity(3).unwrap();
        let v = unit(&[1.0, 2.0, 2.0]);
        let out = a.apply(&v).unwrap();
        for (x, y) in out.iter().zip(&v) {
            assert!((x - y).abs() < 1e-6);
        }
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.safetensors");
        a.save(&p, &HashMap::new()).unwrap();
        assert_eq!(Adapter::load(&p, 3).unwrap().apply(&v).unwrap(), out);
        let err = Adapter::load(&p, 4).err().unwrap().to_string();
        assert!(
            err.contains("a.safetensors") && err.contains("3x3"),
            "{err}"
        );
    }

    #[test]
    fn training_learns_a_mapping_the_raw_vectors_get_wrong() {
        // Queries sit next to the wrong tool: query i is near doc (i+1)%3.
        let docs: Vec<f32> = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]].concat();
        let mut queries = Vec::new();
        let mut targets = Vec::new();
        for k in 0..30 {
            let i = k % 3;
            let mut q = [0.05 * (k as f32 * 0.7).sin(); 3];
            q[(i + 1) % 3] += 1.0;
            queries.extend(unit(&q));
            targets.push(i);
        }
        let hits = |qs: &[f32]| {
            qs.chunks(3)
                .zip(&targets)
                .filter(|(q, &t)| top_n(&docs, 3, q, 1, &|_| 0.0)[0].0 == t)
                .count()
        };
        assert_eq!(hits(&queries), 0);
        let pairs = Pairs {
            dim: 3,
            queries: &queries,
            targets: &targets,
            docs: &docs,
        };
        let cfg = TrainConfig {
            epochs: 200,
            batch: 8,
            lr: 0.05,
            ..Default::default()
        };
        let (a, losses) = train(&pairs, &cfg, false).unwrap();
        assert!(losses.last().unwrap() < &(losses[0] * 0.5), "{losses:?}");
        assert_eq!(hits(&a.apply(&queries).unwrap()), 30);
    }
}
