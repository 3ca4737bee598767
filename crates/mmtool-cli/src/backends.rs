//! Where backends are built from their `--backend` name, and the shared
//! loading of data files they need.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, resolve_data_dir, Item, LoadOptions};
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::Recommender;

/// Training files read by backends that learn from instructions. Never the test set.
pub const TRAINING_FILES: [&str; 3] = ["train_synth.json", "train_audio.json", "train_video.json"];

/// Names accepted by `--backend`.
pub const BACKENDS: [&str; 3] = ["bm25", "retrieval", "mllm"];

/// Shortlist size of the mllm backend (retrieval's top-N), the weight of the
/// retrieval score in its fused score, and the retrieval ranking both come
/// from: the best of a grid (hybrid/dense x 3-20 x weight 0-500) on 300
/// training items the adapter never trained on, with the retrieval index
/// rebuilt without them (`examples/tune_fusion.rs`, docs/llm.md, session 5).
/// On that grid no setting beats retrieval alone; this one comes closest.
pub const DEFAULT_SHORTLIST: usize = 5;
pub const DEFAULT_FUSION_WEIGHT: f32 = 500.0;
pub const DEFAULT_SHORTLIST_SCORING: ShortlistScoring = ShortlistScoring::Hybrid;

/// How the retrieval stage scores the mllm backend's shortlist (and so the
/// prior the fusion weight multiplies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ShortlistScoring {
    /// Cosine and modality penalty; `unknown` by its own cosine, always given
    /// the shortlist's last place.
    Dense,
    /// The retrieval backend's own ranking: cosine + BM25 share + modality
    /// penalty, `unknown` at its fixed score.
    Hybrid,
}

/// Settings of the mllm backend.
#[derive(Debug, Clone)]
pub struct MllmFlags {
    /// Adapter directory (default: the repository's `adapters/default`).
    pub adapter: Option<PathBuf>,
    /// Free generation as in the paper.
    pub unconstrained: bool,
    /// Retrieval shortlist size (0 = whole catalog).
    pub shortlist: usize,
    /// Weight of the retrieval score in the fused ranking.
    pub fusion_weight: f32,
    /// Shortlist scores as log-likelihood gain over the empty request.
    pub calibrate: bool,
    /// The retrieval ranking the shortlist and the fusion prior come from.
    pub shortlist_scoring: ShortlistScoring,
}

impl Default for MllmFlags {
    fn default() -> Self {
        MllmFlags {
            adapter: None,
            unconstrained: false,
            shortlist: DEFAULT_SHORTLIST,
            fusion_weight: DEFAULT_FUSION_WEIGHT,
            calibrate: true,
            shortlist_scoring: DEFAULT_SHORTLIST_SCORING,
        }
    }
}

pub struct Context {
    data_dir_flag: Option<PathBuf>,
    mllm: MllmFlags,
}

impl Context {
    pub fn new(data_dir_flag: Option<PathBuf>) -> Self {
        Context {
            data_dir_flag,
            mllm: MllmFlags::default(),
        }
    }

    /// Settings of the mllm backend.
    pub fn with_mllm(mut self, flags: MllmFlags) -> Self {
        self.mllm = flags;
        self
    }

    pub fn mllm_flags(&self) -> &MllmFlags {
        &self.mllm
    }

    fn mllm_options(&self) -> mmtool_llm::backend::MllmOptions {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        mmtool_llm::backend::MllmOptions {
            adapter: self
                .mllm
                .adapter
                .clone()
                .or_else(|| mmtool_llm::backend::default_adapter(Path::new(".")))
                .or_else(|| mmtool_llm::backend::default_adapter(&repo)),
            backbone: None,
            unconstrained: self.mllm.unconstrained,
        }
    }

    pub fn data_dir(&self) -> Result<PathBuf> {
        Ok(resolve_data_dir(self.data_dir_flag.as_deref())?)
    }

    pub fn catalog(&self) -> Result<Arc<Catalog>> {
        Ok(Arc::new(Catalog::load_dir(&self.data_dir()?)?))
    }

    /// All training items (synthetic, audio and video sets).
    pub fn training_items(&self) -> Result<Vec<Item>> {
        let dir = self.data_dir()?;
        let mut all = Vec::new();
        for f in TRAINING_FILES {
            let items = load_items(&dir.join(f), LoadOptions { unique_ids: false })
                .with_context(|| format!("loading training data from {}", dir.display()))?;
            all.extend(items);
        }
        Ok(all)
    }

    pub fn build_backend(&self, name: &str) -> Result<Box<dyn Recommender>> {
        match name {
            "bm25" => {
                let catalog = self.catalog()?;
                let training = self.training_items()?;
                Ok(Box::new(Bm25Recommender::build(
                    catalog,
                    &training,
                    Bm25Config::default(),
                )))
            }
            "retrieval" => {
                let catalog = self.catalog()?;
                let training = self.training_items()?;
                let cfg = mmtool_retrieval::RetrievalConfig::default();
                Ok(Box::new(mmtool_retrieval::RetrievalRecommender::open(
                    catalog, &training, &cfg,
                )?))
            }
            "mllm" => {
                let catalog = self.catalog()?;
                let mllm = mmtool_llm::backend::MllmRecommender::build(
                    catalog.clone(),
                    &self.mllm_options(),
                )?
                .with_calibration(self.mllm.calibrate);
                if self.mllm.shortlist == 0 || self.mllm.unconstrained {
                    return Ok(Box::new(mllm));
                }
                let training = self.training_items()?;
                let retrieval = Arc::new(mmtool_retrieval::RetrievalRecommender::open(
                    catalog,
                    &training,
                    &mmtool_retrieval::RetrievalConfig::default(),
                )?);
                let n = self.mllm.shortlist;
                // Uncalibrated, the MLLM's pull towards `unknown` (the shortest
                // id) won over the hybrid ranking's fixed `unknown` score (28.6 %
                // vs 13.4 %, BENCHMARKS.md); calibration removes that pull, and
                // the fusion grid of docs/llm.md compares both rankings.
                let scoring = match self.mllm.shortlist_scoring {
                    ShortlistScoring::Dense => mmtool_retrieval::recommender::Scoring::dense(
                        retrieval.scoring().mismatch_penalty,
                    ),
                    ShortlistScoring::Hybrid => *retrieval.scoring(),
                };
                // A likely but unsure spoken language widens the shortlist with
                // the candidates for the request read with it: the MLLM hears the
                // audio through its media token and chooses.
                let candidates = move |q: &mmtool_recommend::Query| {
                    let plain = retrieval.candidates_by(q, n, &scoring)?;
                    match &q.shortlist_hint {
                        Some(h) if q.media_hint.as_ref() != Some(h) => {
                            let mut hinted = q.clone();
                            hinted.media_hint = Some(h.clone());
                            let wide = retrieval.candidates_by(&hinted, n, &scoring)?;
                            Ok(mmtool_recommend::merge_shortlists(plain, wide))
                        }
                        _ => Ok(plain),
                    }
                };
                Ok(Box::new(mllm.with_shortlist(
                    mmtool_llm::backend::Shortlist {
                        candidates: Arc::new(candidates),
                        weight: self.mllm.fusion_weight,
                    },
                )))
            }
            other => anyhow::bail!(
                "unknown backend {other:?}; available: {}",
                BACKENDS.join(", ")
            ),
        }
    }
}

/// Checks that a user-given media file exists, is a readable regular file and is not empty.
pub fn check_media_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path)
        .with_context(|| format!("{}: cannot read media file", path.display()))?;
    if !meta.is_file() {
        anyhow::bail!("{}: not a regular file", path.display());
    }
    if meta.len() == 0 {
        anyhow::bail!("{}: the media file is empty", path.display());
    }
    std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open media file", path.display()))?;
    Ok(())
}
