//! LoRA training on CPU: `mmtool train --config FILE.toml [--resume]`.
//!
//! Speed levers (measured in `docs/llm.md`):
//! - LoRA on the upper layers only; for inputs without a media soft token the
//!   lower layers' hidden states never change, so they are computed once and
//!   cached (`cache_lower_layers`).
//! - No padding: batches hold sequences of one exact length.
//! - Logits and loss only at target positions (`{'api_name': id}\n###`).
//! - Frozen linear layers compute no weight gradient ([`crate::frozen`]).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context as _, Result};
use candle_core::{DType, Device, Tensor, D};
use indicatif::{ProgressBar, ProgressStyle};
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, Item, LoadOptions, Modality};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, tensors_to_bytes, write_atomic};
use crate::decode::{beam_search, prefill, Trie};
use crate::llama::{LoraConfig, Mllm};
use crate::load::BaseModel;
use crate::lower_cache;
use crate::prompt::PromptEncoder;

fn d_files() -> Vec<String> {
    ["train_synth.json", "train_audio.json", "train_video.json"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}
fn d_out() -> PathBuf {
    PathBuf::from("adapters/default")
}
fn d_seed() -> u64 {
    17
}
fn d_epochs() -> usize {
    1
}
fn d_batch() -> usize {
    8
}
fn d_one() -> usize {
    1
}
fn d_lr() -> f64 {
    5e-4
}
fn d_warmup() -> usize {
    30
}
fn d_min_lr() -> f64 {
    0.1
}
fn d_max_len() -> usize {
    128
}
fn d_dev() -> usize {
    200
}
fn d_ckpt() -> usize {
    200
}
fn d_media() -> usize {
    512
}
fn d_holdout_seed() -> u64 {
    7
}
fn d_true() -> bool {
    true
}

/// A training run, as read from TOML. Paths are relative to the working
/// directory except `train_files`, which are relative to the data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `.gguf` file or HuggingFace directory; default: the SmolLM2 GGUF in the model cache.
    #[serde(default)]
    pub backbone: Option<PathBuf>,
    /// Training files inside the data directory. `test.json` is refused.
    #[serde(default = "d_files")]
    pub train_files: Vec<String>,
    #[serde(default = "d_out")]
    pub output_dir: PathBuf,
    #[serde(default = "d_seed")]
    pub seed: u64,
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_one")]
    pub grad_accum: usize,
    /// Peak learning rate (paper: 5e-4), reached after `warmup_steps`, then
    /// cosine decay to `min_lr_ratio * lr` at the last step.
    #[serde(default = "d_lr")]
    pub lr: f64,
    #[serde(default = "d_warmup")]
    pub warmup_steps: usize,
    #[serde(default = "d_min_lr")]
    pub min_lr_ratio: f64,
    #[serde(default)]
    pub weight_decay: f64,
    /// Longer examples (prompt + target tokens) are skipped.
    #[serde(default = "d_max_len")]
    pub max_len: usize,
    /// Items held out from the training files for per-epoch accuracy.
    #[serde(default = "d_dev")]
    pub dev_size: usize,
    /// Use at most this many training examples per tool (0 = all), chosen
    /// at random with the seed: the synthetic set has ~30 per tool.
    #[serde(default)]
    pub max_per_tool: usize,
    /// Leave out each tool's first this many training items in the seeded
    /// order: the ones an earlier stage with the same seed and
    /// `max_per_tool = skip_per_tool` trained on, so a later stage adds new
    /// items only (0 = none).
    #[serde(default)]
    pub skip_per_tool: usize,
    /// Save a checkpoint every this many optimizer steps (and at each epoch end).
    #[serde(default = "d_ckpt")]
    pub checkpoint_every: usize,
    /// Width of the media embedding the projection takes.
    #[serde(default = "d_media")]
    pub media_dim: usize,
    /// Compute the frozen layers below the first LoRA layer once per example.
    #[serde(default = "d_true")]
    pub cache_lower_layers: bool,
    /// Keep that cache in `$MMTOOL_CACHE/train-cache` and reuse it in later
    /// runs over the same backbone, layers and examples (~140 KB per example).
    #[serde(default = "d_true")]
    pub keep_lower_cache: bool,
    /// Share of the catalog's tools whose training items are all removed, for
    /// the unseen-tools experiment (0 = none). The tools are the ones
    /// `mmtool retrieval unseen --share S --holdout-seed N` holds out.
    #[serde(default)]
    pub holdout_share: f64,
    #[serde(default = "d_holdout_seed")]
    pub holdout_seed: u64,
    /// ToolMMBench files whose items carry real media files (paths relative
    /// to each file's folder), e.g. written by `mmtool data synth-media`.
    /// Relative to the working directory; a leading `~/` is the home folder.
    /// Every such item is trained with its projected media token, which is
    /// how the projection learns; `media_dim` must be the encoders' width.
    #[serde(default)]
    pub media_files: Vec<PathBuf>,
    /// Start the LoRA weights (and the projection, when its shape matches)
    /// from this adapter directory instead of a random start.
    #[serde(default)]
    pub init_from: Option<PathBuf>,
    #[serde(default)]
    pub lora: LoraConfig,
}

impl TrainConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read config", path.display()))?;
        let cfg: TrainConfig = toml::from_str(&text)
            .with_context(|| format!("{}: invalid training config", path.display()))?;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    pub fn validate(&self) -> std::result::Result<(), String> {
        for f in &self.train_files {
            let name = Path::new(f)
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("");
            if name == "test.json" {
                return Err(format!("train_files includes {f:?}: the test set is for measuring only, never training"));
            }
        }
        for f in &self.media_files {
            if f.file_name().and_then(|n| n.to_str()) == Some("test.json") {
                return Err(format!(
                    "media_files includes {}: the test set is for measuring only, never training",
                    f.display()
                ));
            }
        }
        if self.train_files.is_empty() {
            return Err("train_files is empty".into());
        }
        if self.epochs == 0 || self.batch_size == 0 || self.grad_accum == 0 {
            return Err("epochs, batch_size and grad_accum must be at least 1".into());
        }
        // Written to reject NaN too.
        if self.lr.is_nan() || self.lr <= 0. || !(0.0..=1.0).contains(&self.min_lr_ratio) {
            return Err("lr must be positive and min_lr_ratio in [0, 1]".into());
        }
        if !(0.0..1.0).contains(&self.holdout_share) {
            return Err("holdout_share must be in [0, 1)".into());
        }
        Ok(())
    }

    pub fn backbone_path(&self) -> PathBuf {
        self.backbone
            .clone()
            .unwrap_or_else(crate::load::default_backbone)
    }
}

/// One tokenised training example.
#[derive(Debug, Clone)]
pub struct Example {
    pub ids: Vec<u32>,
    /// Tokens before the target.
    pub prompt_len: usize,
    /// The media soft token's slot in `ids` and the encoder features
    /// projected into it.
    pub media: Option<(usize, Vec<f32>)>,
}

/// Encoder features (`media_dim` wide) for a media file of a modality; the
/// CLI runs the frozen encoders, tests pass random vectors.
pub type MediaFeaturesFn<'a> = dyn Fn(&Path, Modality) -> Result<Vec<f32>> + 'a;

/// `~/x` to the home folder's `x`; other paths unchanged.
pub fn expand_home(p: &Path) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p.to_path_buf(),
    }
}

/// Learning rate at optimizer step `step` (0-based) of `total`.
pub fn lr_at(cfg: &TrainConfig, step: usize, total: usize) -> f64 {
    if step < cfg.warmup_steps {
        return cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64;
    }
    let span = total.saturating_sub(cfg.warmup_steps).max(1);
    let progress = ((step - cfg.warmup_steps) as f64 / span as f64).min(1.);
    let min = cfg.lr * cfg.min_lr_ratio;
    min + (cfg.lr - min) * 0.5 * (1. + (std::f64::consts::PI * progress).cos())
}

/// AdamW with inspectable state. candle's `AdamW` keeps its moments private,
/// so it cannot be checkpointed for an exact `--resume`.
pub struct AdamW {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    /// Optimizer steps taken.
    pub t: usize,
    m: HashMap<String, Tensor>,
    v: HashMap<String, Tensor>,
}

impl AdamW {
    pub fn new(weight_decay: f64) -> Self {
        AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t: 0,
            m: HashMap::new(),
            v: HashMap::new(),
        }
    }

    /// Applies one update with `grads` (by variable name) at learning rate `lr`.
    pub fn step(&mut self, model: &Mllm, grads: &HashMap<String, Tensor>, lr: f64) -> Result<()> {
        self.t += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1. - b1.powi(self.t as i32);
        let c2 = 1. - b2.powi(self.t as i32);
        let data = model.varmap().data().lock().expect("varmap lock");
        for (name, var) in data.iter() {
            let Some(g) = grads.get(name) else { continue };
            let m = match self.m.get(name) {
                Some(m) => ((m * b1)? + (g * (1. - b1))?)?,
                None => (g * (1. - b1))?,
            };
            let v = match self.v.get(name) {
                Some(v) => ((v * b2)? + (g.sqr()? * (1. - b2))?)?,
                None => (g.sqr()? * (1. - b2))?,
            };
            let upd = ((&m / c1)? / ((&v / c2)?.sqrt()? + self.eps)?)?;
            let w = var.as_tensor();
            let next = ((w * (1. - lr * self.weight_decay))? - (upd * lr)?)?;
            var.set(&next)?;
            self.m.insert(name.clone(), m);
            self.v.insert(name.clone(), v);
        }
        Ok(())
    }

    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (k, t) in &self.m {
            out.insert(format!("m.{k}"), t.clone());
        }
        for (k, t) in &self.v {
            out.insert(format!("v.{k}"), t.clone());
        }
        out
    }

    pub fn load_state(&mut self, tensors: HashMap<String, Tensor>, t: usize) -> Result<()> {
        self.t = t;
        for (k, v) in tensors {
            if let Some(n) = k.strip_prefix("m.") {
                self.m.insert(n.to_string(), v);
            } else if let Some(n) = k.strip_prefix("v.") {
                self.v.insert(n.to_string(), v);
            } else {
                bail!("optimizer state has an unknown tensor {k:?}");
            }
        }
        Ok(())
    }
}

/// Where a run stands; saved next to the adapter for `--resume`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub config: TrainConfig,
    pub epoch: usize,
    /// Optimizer steps done within `epoch`.
    pub step_in_epoch: usize,
    /// Optimizer steps done in all.
    pub step: usize,
    pub dev_accuracy: Vec<f64>,
}

const STATE_FILE: &str = "train_state.json";
const OPT_FILE: &str = "optimizer.safetensors";

/// The batches of one epoch, as example indices: sequences of equal length
/// (no padding), order shuffled by `(seed, epoch)` so a resumed run sees the
/// same order.
pub fn epoch_batches(
    examples: &[Example],
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Vec<Vec<usize>> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(
        seed ^ (epoch as u64 + 1).wrapping_mul(0xA076_1D64_78BD_642F),
    );
    // Items with a media token never share a batch with text-only ones:
    // they run every layer, the others start from the cached lower layers.
    let mut by_len: BTreeMap<(usize, bool), Vec<usize>> = BTreeMap::new();
    for (i, e) in examples.iter().enumerate() {
        by_len
            .entry((e.ids.len(), e.media.is_some()))
            .or_default()
            .push(i);
    }
    let mut batches = Vec::new();
    for (_, mut idx) in by_len {
        idx.shuffle(&mut rng);
        batches.extend(idx.chunks(batch_size).map(|c| c.to_vec()));
    }
    batches.shuffle(&mut rng);
    batches
}

/// Loss and token accuracy for a batch of equal-length examples, from the
/// hidden states entering layer `from` (`[b, t, hidden]`).
pub fn batch_loss(
    model: &Mllm,
    h: &Tensor,
    exs: &[&Example],
    from: usize,
) -> Result<(Tensor, usize, usize)> {
    let (b, t, hid) = h.dims3()?;
    let h = model.forward_layers(h, from..model.n_layers(), 0, None, true)?;
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (i, e) in exs.iter().enumerate() {
        for p in e.prompt_len..t {
            rows.push((i * t + p - 1) as u32);
            labels.push(e.ids[p]);
        }
    }
    let _ = b;
    let dev = model.device();
    let sel = h
        .reshape((b * t, hid))?
        .index_select(&Tensor::new(rows.as_slice(), dev)?, 0)?;
    let logits = model.logits(&sel, true)?;
    let labels_t = Tensor::new(labels.as_slice(), dev)?;
    let loss = candle_nn::loss::cross_entropy(&logits, &labels_t)?;
    let pred: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
    let correct = pred.iter().zip(&labels).filter(|(a, b)| a == b).count();
    Ok((loss, correct, labels.len()))
}

/// Input hidden states for a batch and the layer they enter: the cached
/// lower-layer output, or embeddings (with the projected media token spliced
/// in, so its gradient reaches the projection through every layer).
pub fn batch_input(
    model: &Mllm,
    exs: &[&Example],
    cached: Option<&[Option<Tensor>]>,
    idx: &[usize],
    from: usize,
) -> Result<(Tensor, usize)> {
    if exs.iter().any(|e| e.media.is_some()) {
        let rows: Vec<Tensor> = exs
            .iter()
            .map(|e| {
                let (slot, f) = e
                    .media
                    .as_ref()
                    .context("a batch mixes media and text-only examples")?;
                let m = Tensor::from_slice(f, f.len(), model.device())?;
                Ok(model.embed_with_media(&e.ids, Some((*slot, &m)))?)
            })
            .collect::<Result<_>>()?;
        return Ok((Tensor::cat(&rows, 0)?, 0));
    }
    let cached_rows: Option<Vec<Tensor>> =
        cached.and_then(|c| idx.iter().map(|&i| c[i].clone()).collect());
    match cached_rows {
        Some(rows) => Ok((Tensor::stack(&rows, 0)?, from)),
        None => {
            let ids: Vec<Tensor> = exs
                .iter()
                .map(|e| Tensor::new(e.ids.as_slice(), model.device()))
                .collect::<candle_core::Result<_>>()?;
            Ok((model.embed_tokens(&Tensor::stack(&ids, 0)?)?, 0))
        }
    }
}

/// Runs the frozen layers `0..upto` once per text-only example (batched by
/// length); examples with a media token get `None` (their lower layers
/// depend on the trainable projection).
pub fn cache_lower(
    model: &Mllm,
    examples: &[Example],
    upto: usize,
    batch: usize,
    pb: &ProgressBar,
) -> Result<Vec<Option<Tensor>>> {
    let mut out: Vec<Option<Tensor>> = vec![None; examples.len()];
    for idx in epoch_batches(examples, batch, 0, 0) {
        if examples[idx[0]].media.is_some() {
            continue;
        }
        let ids: Vec<Tensor> = idx
            .iter()
            .map(|&i| Tensor::new(examples[i].ids.as_slice(), model.device()))
            .collect::<candle_core::Result<_>>()?;
        let h = model.embed_tokens(&Tensor::stack(&ids, 0)?)?;
        let h = model.forward_layers(&h, 0..upto, 0, None, false)?;
        for (j, &i) in idx.iter().enumerate() {
            out[i] = Some(h.get(j)?);
        }
        pb.inc(idx.len() as u64);
    }
    Ok(out)
}

/// The lower layers' output for the text-only examples: read from
/// `disk_dir` when an earlier run kept it for the same backbone, layers and
/// examples, else computed (and then kept there). A cache that cannot be
/// read or written is reported and worked around, never fatal.
pub fn lower_layers(
    model: &Mllm,
    examples: &[Example],
    upto: usize,
    backbone: &Path,
    disk_dir: Option<&Path>,
) -> Result<Vec<Option<Tensor>>> {
    let text_only = examples.iter().filter(|e| e.media.is_none()).count();
    let hidden = model.config().hidden_size;
    let disk = match disk_dir.map(|d| (d, lower_cache::backbone_fingerprint(backbone))) {
        Some((d, Ok(fp))) => {
            let k = lower_cache::key(&fp, upto, hidden, examples);
            Some((lower_cache::file_for(d, &k), k))
        }
        Some((_, Err(e))) => {
            eprintln!("warning: {e:#}; the lower-layer cache is not kept on disk");
            None
        }
        None => None,
    };
    if let Some((path, k)) = &disk {
        if path.exists() {
            let t = Instant::now();
            match lower_cache::load(path, k, examples, hidden) {
                Ok(c) => {
                    eprintln!(
                        "read layers 0..{upto} for {text_only} text-only examples from {} in {:.0}s",
                        path.display(),
                        t.elapsed().as_secs_f64()
                    );
                    return Ok(c);
                }
                Err(e) => eprintln!("warning: {e:#}; computing the lower layers again"),
            }
        }
    }
    let pb = bar(text_only as u64, "cache lower layers");
    let c = cache_lower(model, examples, upto, 16, &pb)?;
    pb.finish_and_clear();
    eprintln!(
        "cached layers 0..{upto} for {text_only} text-only examples in {:.0}s",
        pb.elapsed().as_secs_f64()
    );
    if let Some((path, k)) = disk {
        let t = Instant::now();
        match lower_cache::save(&path, &k, &c) {
            Ok(()) => {
                let gb = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) as f64 / 1e9;
                eprintln!(
                    "kept them in {} ({gb:.2} GB, {:.0}s) for later runs over the same examples",
                    path.display(),
                    t.elapsed().as_secs_f64()
                );
                if let Some(dir) = path.parent() {
                    for old in lower_cache::prune(dir, lower_cache::KEEP) {
                        eprintln!("removed an older lower-layer cache {}", old.display());
                    }
                }
            }
            Err(e) => eprintln!("warning: could not keep the lower-layer cache: {e:#}"),
        }
    }
    Ok(c)
}

/// Accuracy of constrained greedy decoding on `(prompt, gold candidate index)` pairs.
pub fn dev_accuracy(
    model: &Mllm,
    enc: &PromptEncoder,
    trie: &Trie,
    dev: &[(Item, usize)],
) -> Result<f64> {
    if dev.is_empty() {
        return Ok(0.);
    }
    let mut ok = 0;
    for (item, gold) in dev {
        let p = enc.prompt(&item.instruction, item.modality, false)?;
        let (lp, cache) = prefill(model, &p, None)?;
        let best = beam_search(model, trie, &lp, &cache, 1)?;
        if best.first().map(|b| b.0) == Some(*gold) {
            ok += 1;
        }
    }
    Ok(ok as f64 / dev.len() as f64)
}

/// The tools the unseen-tools experiment removes from training (none when
/// `holdout_share` is 0).
fn held_out(catalog: &Catalog, cfg: &TrainConfig) -> std::collections::HashSet<String> {
    if cfg.holdout_share > 0.0 {
        mmtool_catalog::holdout_tools(catalog, cfg.holdout_share, cfg.holdout_seed)
    } else {
        Default::default()
    }
}

/// Splits items into (train, dev), dropping items whose answer is not in the
/// catalog; optionally keeps at most `max_per_tool` training items per tool.
pub fn split_items(
    items: Vec<Item>,
    catalog: &Catalog,
    cfg: &TrainConfig,
) -> (Vec<Item>, Vec<Item>, usize) {
    let before = items.len();
    let held = held_out(catalog, cfg);
    let mut items: Vec<Item> = items
        .into_iter()
        .filter(|i| catalog.contains(&i.answers[0]))
        .filter(|i| !i.answers.iter().any(|a| held.contains(a)))
        .collect();
    let dropped = before - items.len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(cfg.seed);
    items.shuffle(&mut rng);
    let dev_n = cfg.dev_size.min(items.len() / 5);
    let train = items.split_off(dev_n);
    let dev = items;
    let mut count: HashMap<String, usize> = HashMap::new();
    let train = train
        .into_iter()
        .filter(|i| {
            let c = count.entry(i.answers[0].clone()).or_default();
            *c += 1;
            *c > cfg.skip_per_tool && (cfg.max_per_tool == 0 || *c <= cfg.max_per_tool)
        })
        .collect();
    (train, dev, dropped)
}

/// An item as a text-only example, and its prompt's media slot when
/// `with_media` reserves one; `None` when longer than `max_len`.
fn tokenise(
    enc: &PromptEncoder,
    it: &Item,
    with_media: bool,
    max_len: usize,
) -> Result<Option<(Example, Option<usize>)>> {
    let p = enc.prompt(&it.instruction, it.modality, with_media)?;
    let t = enc.target(&it.answers[0])?;
    if p.ids.len() + t.len() > max_len {
        return Ok(None);
    }
    let prompt_len = p.ids.len();
    let mut ids = p.ids;
    ids.extend(t);
    let ex = Example {
        ids,
        prompt_len,
        media: None,
    };
    Ok(Some((ex, p.media_slot)))
}

/// Tokenises items into examples; drops those longer than `max_len`.
pub fn encode_items(
    enc: &PromptEncoder,
    items: &[Item],
    max_len: usize,
) -> Result<(Vec<Example>, usize)> {
    let mut out = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for it in items {
        match tokenise(enc, it, false, max_len)? {
            Some((ex, _)) => out.push(ex),
            None => skipped += 1,
        }
    }
    Ok((out, skipped))
}

/// Reads `media_files`: items whose answer is in the catalog (and not held
/// out), each with its media file resolved against the file's folder.
pub fn load_media_items(
    files: &[PathBuf],
    catalog: &Catalog,
    cfg: &TrainConfig,
) -> Result<Vec<(Item, PathBuf)>> {
    let held = held_out(catalog, cfg);
    let mut out = Vec::new();
    for f in files {
        let f = expand_home(f);
        let items = load_items(&f, LoadOptions { unique_ids: true })?;
        let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
        for it in items {
            if !catalog.contains(&it.answers[0]) || it.answers.iter().any(|a| held.contains(a)) {
                continue;
            }
            let Some(rel) = it.media_path.clone().filter(|p| !p.is_empty()) else {
                bail!(
                    "{}: item {} has no media file; media_files are for items with media",
                    f.display(),
                    it.id
                );
            };
            out.push((it, dir.join(rel)));
        }
    }
    Ok(out)
}

/// Tokenises media items with the soft-token slot and attaches their
/// encoder features; drops those longer than `max_len`.
pub fn encode_media_items(
    enc: &PromptEncoder,
    items: &[(Item, PathBuf)],
    features: &MediaFeaturesFn,
    media_dim: usize,
    max_len: usize,
    pb: &ProgressBar,
) -> Result<(Vec<Example>, usize)> {
    let mut out = Vec::with_capacity(items.len());
    let mut skipped = 0;
    for (it, path) in items {
        pb.inc(1);
        let Some((mut ex, slot)) = tokenise(enc, it, true, max_len)? else {
            skipped += 1;
            continue;
        };
        let f = features(path, it.modality)
            .with_context(|| format!("{}: encoding the media file", path.display()))?;
        if f.len() != media_dim {
            bail!(
                "{}: the encoders gave {} values, the config's media_dim is {media_dim}",
                path.display(),
                f.len()
            );
        }
        ex.media = Some((slot.context("a media prompt has a slot")?, f));
        out.push(ex);
    }
    Ok((out, skipped))
}

/// Target sequences for every catalog id, in catalog order.
pub fn catalog_targets(enc: &PromptEncoder, catalog: &Catalog) -> Result<Vec<Vec<u32>>> {
    catalog.cards().iter().map(|c| enc.target(&c.id)).collect()
}

/// The whole `mmtool train` run.
pub fn run(
    cfg: TrainConfig,
    data_dir: &Path,
    resume: bool,
    media: Option<&MediaFeaturesFn>,
) -> Result<PathBuf> {
    let dev = Device::Cpu;
    let out = cfg.output_dir.clone();
    let state_path = out.join(STATE_FILE);
    let mut state = if resume {
        let text = std::fs::read_to_string(&state_path).with_context(|| {
            format!(
                "{}: cannot read training state to resume",
                state_path.display()
            )
        })?;
        let st: TrainState = serde_json::from_str(&text)
            .with_context(|| format!("{}: malformed training state", state_path.display()))?;
        if st.config != cfg {
            bail!(
                "{}: the run was started with a different config; resume needs the same config",
                state_path.display()
            );
        }
        st
    } else {
        if state_path.exists() || out.join(checkpoint::TENSORS_FILE).exists() {
            bail!("{}: holds a training run already; pass --resume to continue it or choose another output_dir", out.display());
        }
        TrainState {
            config: cfg.clone(),
            epoch: 0,
            step_in_epoch: 0,
            step: 0,
            dev_accuracy: Vec::new(),
        }
    };

    let catalog = Catalog::load_dir(data_dir)?;
    let mut items = Vec::new();
    for f in &cfg.train_files {
        items.extend(load_items(
            &data_dir.join(f),
            LoadOptions { unique_ids: false },
        )?);
    }
    let (train_items, dev_items, dropped) = split_items(items, &catalog, &cfg);
    if dropped > 0 {
        eprintln!(
            "skipped {dropped} training items whose answer is not in the catalog{}",
            if cfg.holdout_share > 0.0 {
                " or is a held-out tool"
            } else {
                ""
            }
        );
    }
    let t0 = Instant::now();
    let base = BaseModel::load(&cfg.backbone_path(), &dev)?;
    let enc = PromptEncoder::new(base.tokenizer.clone());
    let model = Mllm::new(
        base.config.clone(),
        base.var_builder(&dev),
        cfg.lora.clone(),
        cfg.media_dim,
    )?;
    drop(base);
    model.reset_trainable(cfg.seed)?;
    eprintln!("loaded backbone in {:.1}s", t0.elapsed().as_secs_f64());
    if let (Some(init), false) = (&cfg.init_from, resume) {
        let init = expand_home(init);
        let skipped = checkpoint::load_matching_into(&model, &init.join(checkpoint::TENSORS_FILE))?;
        eprintln!(
            "started from {}{}",
            init.display(),
            if skipped.is_empty() {
                String::new()
            } else {
                format!(" (new start for {}: other shape)", skipped.join(", "))
            }
        );
    }
    let mut opt = AdamW::new(cfg.weight_decay);
    if resume {
        checkpoint::load_adapter(&model, &out)?;
        let opt_path = out.join(OPT_FILE);
        let st = candle_core::safetensors::load(&opt_path, &dev)
            .with_context(|| format!("{}: cannot read optimizer state", opt_path.display()))?;
        opt.load_state(st, state.step)?;
        eprintln!("resuming at epoch {} step {}", state.epoch + 1, state.step);
    }

    let (mut examples, mut too_long) = encode_items(&enc, &train_items, cfg.max_len)?;
    if !cfg.media_files.is_empty() {
        let features = media.context(
            "the config names media_files but no media encoder was given (run it through `mmtool train`)",
        )?;
        let items = load_media_items(&cfg.media_files, &catalog, &cfg)?;
        let pb = bar(items.len() as u64, "encode media");
        let (m, long) =
            encode_media_items(&enc, &items, features, cfg.media_dim, cfg.max_len, &pb)?;
        pb.finish_and_clear();
        eprintln!(
            "{} examples with media from {} file(s), encoded in {:.0}s",
            m.len(),
            cfg.media_files.len(),
            pb.elapsed().as_secs_f64()
        );
        too_long += long;
        examples.extend(m);
    }
    if too_long > 0 {
        eprintln!(
            "skipped {too_long} examples longer than max_len {}",
            cfg.max_len
        );
    }
    let targets = catalog_targets(&enc, &catalog)?;
    let trie = Trie::new(&targets)?;
    let dev_set: Vec<(Item, usize)> = dev_items
        .into_iter()
        .map(|i| {
            let g = catalog
                .position(&i.answers[0])
                .expect("filtered to catalog ids");
            (i, g)
        })
        .collect();

    let from = if cfg.cache_lower_layers {
        cfg.lora.first_layer()
    } else {
        0
    };
    let cached = if from > 0 {
        let disk = cfg.keep_lower_cache.then(lower_cache::default_dir);
        Some(lower_layers(
            &model,
            &examples,
            from,
            &cfg.backbone_path(),
            disk.as_deref(),
        )?)
    } else {
        None
    };

    let steps_per_epoch = epoch_batches(&examples, cfg.batch_size, cfg.seed, 0)
        .len()
        .div_ceil(cfg.grad_accum);
    let total = steps_per_epoch * cfg.epochs;
    eprintln!(
        "{} training examples, {} dev items, {steps_per_epoch} steps per epoch, {} epochs, LoRA layers {from}..{}",
        examples.len(),
        dev_set.len(),
        cfg.epochs,
        model.n_layers()
    );
    let record = |st: &TrainState| {
        serde_json::json!({
            "config": cfg, "data_dir": data_dir, "train_examples": examples.len(),
            "media_examples": examples.iter().filter(|e| e.media.is_some()).count(),
            "dev_items": dev_set.len(), "seed": cfg.seed, "epoch": st.epoch, "step": st.step,
            "dev_accuracy": st.dev_accuracy,
        })
    };
    let save = |st: &TrainState, opt: &AdamW| -> Result<()> {
        checkpoint::save_adapter(
            &model,
            &out,
            &cfg.backbone_path().display().to_string(),
            record(st),
        )?;
        write_atomic(
            &out.join(OPT_FILE),
            &tensors_to_bytes(&opt.state_tensors())?,
        )?;
        write_atomic(
            &out.join(STATE_FILE),
            serde_json::to_string_pretty(st)?.as_bytes(),
        )
    };

    while state.epoch < cfg.epochs {
        let batches = epoch_batches(&examples, cfg.batch_size, cfg.seed, state.epoch);
        let groups: Vec<&[Vec<usize>]> = batches.chunks(cfg.grad_accum).collect();
        let pb = bar(
            groups.len() as u64,
            &format!("epoch {}/{}", state.epoch + 1, cfg.epochs),
        );
        pb.set_position(state.step_in_epoch as u64);
        pb.reset_eta();
        let (mut loss_sum, mut correct, mut tokens, mut seen) = (0f64, 0usize, 0usize, 0usize);
        let started = Instant::now();
        for group in &groups[state.step_in_epoch..] {
            let mut grads: HashMap<String, Tensor> = HashMap::new();
            model.seed_dropout(cfg.seed ^ (state.step as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
            for idx in group.iter() {
                let exs: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
                let (h, start) = batch_input(&model, &exs, cached.as_deref(), idx, from)?;
                let (loss, c, n) = batch_loss(&model, &h, &exs, start)?;
                let scaled = (&loss / group.len() as f64)?;
                let g = scaled.backward()?;
                let data = model.varmap().data().lock().expect("varmap lock");
                for (name, var) in data.iter() {
                    if let Some(gt) = g.get(var.as_tensor()) {
                        let e = grads.entry(name.clone());
                        match e {
                            std::collections::hash_map::Entry::Occupied(mut o) => {
                                let s = (o.get() + gt)?;
                                o.insert(s);
                            }
                            std::collections::hash_map::Entry::Vacant(v) => {
                                v.insert(gt.clone());
                            }
                        }
                    }
                }
                loss_sum += loss.to_scalar::<f32>()? as f64 * exs.len() as f64;
                correct += c;
                tokens += n;
                seen += exs.len();
            }
            opt.step(&model, &grads, lr_at(&cfg, state.step, total))?;
            state.step += 1;
            state.step_in_epoch += 1;
            let secs = started.elapsed().as_secs_f64().max(1e-9);
            pb.set_message(format!(
                "loss {:.3} tok-acc {:.1}% {:.2} ex/s",
                loss_sum / seen.max(1) as f64,
                100. * correct as f64 / tokens.max(1) as f64,
                seen as f64 / secs
            ));
            pb.inc(1);
            if cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0 {
                save(&state, &opt)?;
            }
        }
        pb.finish_and_clear();
        eprintln!(
            "epoch {}: loss {:.4}, token accuracy {:.1}%, {:.0}s ({:.3} s/example)",
            state.epoch + 1,
            loss_sum / seen.max(1) as f64,
            100. * correct as f64 / tokens.max(1) as f64,
            started.elapsed().as_secs_f64(),
            started.elapsed().as_secs_f64() / seen.max(1) as f64
        );
        let acc = dev_accuracy(&model, &enc, &trie, &dev_set)?;
        eprintln!(
            "epoch {}: dev accuracy {:.1}% ({} items)",
            state.epoch + 1,
            100. * acc,
            dev_set.len()
        );
        state.dev_accuracy.push(acc);
        state.epoch += 1;
        state.step_in_epoch = 0;
        save(&state, &opt)?;
    }
    let _ = DType::F32;
    Ok(out)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "{what} [{{elapsed_precise}}] {{bar:25}} {{pos}}/{{len}} {{msg}} eta {{eta}}"
        ))
        .expect("static template"),
    );
    pb
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmtool_catalog::ToolCard;
    use mmtool_data::Modality;

    fn card(id: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: "translation".into(),
            domain: "nlp".into(),
            input_modality: Modality::Text,
            output_modality: "text".into(),
            languages: vec![],
            summary: "s".into(),
            tags: vec![],
            api_call: "x".into(),
            confidence: "high".into(),
        }
    }

    fn item(n: usize, answer: &str) -> Item {
        Item {
            id: n as u64,
            source_id: None,
            instruction: format!("request {n}"),
            modality: Modality::Text,
            media_path: None,
            media_description: None,
            answers: vec![answer.into()],
            ambiguity: -1,
            one_to_many: false,
        }
    }

    #[test]
    fn held_out_tools_lose_every_training_item_and_caps_hold() {
        let ids: Vec<String> = (0..20).map(|i| format!("o/t{i}")).collect();
        let catalog = Catalog::from_cards(ids.iter().map(|i| card(i)).collect()).unwrap();
        let items: Vec<Item> = (0..200).map(|n| item(n, &ids[n % 20])).collect();
        let mut cfg: TrainConfig = toml::from_str("").unwrap();
        cfg.dev_size = 10;
        cfg.max_per_tool = 3;
        cfg.holdout_share = 0.25;
        let held = mmtool_catalog::holdout_tools(&catalog, 0.25, cfg.holdout_seed);
        assert_eq!(held.len(), 5);
        let (train, dev, dropped) = split_items(items.clone(), &catalog, &cfg);
        assert_eq!(dropped, 50, "10 items for each of the 5 held-out tools");
        for it in train.iter().chain(&dev) {
            assert!(!held.contains(&it.answers[0]), "{} leaked", it.answers[0]);
        }
        assert_eq!(dev.len(), 10);
        let mut per: HashMap<&str, usize> = HashMap::new();
        for it in &train {
            *per.entry(it.answers[0].as_str()).or_default() += 1;
        }
        assert!(per.values().all(|&c| c <= 3));
        // A later stage with `skip_per_tool` gets exactly the next items of the
        // same seeded order: disjoint from the first stage's, same dev split.
        let mut later = cfg.clone();
        later.max_per_tool = 5;
        later.skip_per_tool = 3;
        let (train2, dev2, _) = split_items(items.clone(), &catalog, &later);
        assert_eq!(
            dev2.iter().map(|i| i.id).collect::<Vec<_>>(),
            dev.iter().map(|i| i.id).collect::<Vec<_>>()
        );
        let first: std::collections::HashSet<u64> = train.iter().map(|i| i.id).collect();
        assert!(
            train2.iter().all(|i| !first.contains(&i.id)),
            "an item trained twice"
        );
        let mut per2: HashMap<&str, usize> = HashMap::new();
        for it in &train2 {
            *per2.entry(it.answers[0].as_str()).or_default() += 1;
        }
        assert_eq!(per2.len(), 15);
        assert!(per2.values().all(|&c| c == 2), "{per2:?}");
        // Without a holdout nothing is dropped and the split is the same as before.
        cfg.holdout_share = 0.0;
        let (_, _, dropped) = split_items(items, &catalog, &cfg);
        assert_eq!(dropped, 0);
    }

    #[test]
    fn configs_never_train_on_the_test_set_and_read_media_keys() {
        let base = "output_dir = \"x\"\n";
        let cfg: TrainConfig = toml::from_str(&format!(
            "{base}media_files = [\"~/m/train.json\"]\ninit_from = \"adapters/stage1\"\nmedia_dim = 1792\n"
        ))
        .unwrap();
        assert!(cfg.validate().is_ok());
        assert_eq!(cfg.init_from.as_deref(), Some(Path::new("adapters/stage1")));
        if let Some(home) = std::env::var_os("HOME") {
            assert_eq!(
                expand_home(&cfg.media_files[0]),
                PathBuf::from(home).join("m/train.json")
            );
        }
        assert_eq!(
            expand_home(Path::new("rel/a.json")),
            PathBuf::from("rel/a.json")
        );
        for bad in [
            "train_files = [\"test.json\"]\n",
            "media_files = [\"../shared/toolmmbench/test.json\"]\n",
        ] {
            let cfg: TrainConfig = toml::from_str(&format!("{base}{bad}")).unwrap();
            let err = cfg.validate().unwrap_err();
            assert!(err.contains("test.json"), "{err}");
        }
    }
}
