//! The `mllm` recommender backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use candle_core::{Device, Tensor};
use mmtool_catalog::Catalog;
use mmtool_recommend::{
    format_response, parse_response, Query, Recommendation, Recommender, Scored,
};

use crate::checkpoint;
use crate::decode::{beam_search, greedy_free, prefill, Trie};
use crate::llama::{LoraConfig, Mllm};
use crate::load::BaseModel;
use crate::prompt::PromptEncoder;

/// Restricts the candidate ids for a query (e.g. a retrieval stage's top-n).
pub type CandidateFn = dyn Fn(&Query) -> Result<Vec<String>> + Send + Sync;

/// Options for building the backend.
#[derive(Debug, Clone, Default)]
pub struct MllmOptions {
    /// Adapter directory (`adapter.safetensors` + `adapter.json`); without
    /// one the base model answers under constraints, untrained.
    pub adapter: Option<PathBuf>,
    /// Backbone override; default: the adapter's recorded backbone, else SmolLM2.
    pub backbone: Option<PathBuf>,
    /// Free generation as in the paper instead of trie-constrained decoding.
    pub unconstrained: bool,
}

pub struct MllmRecommender {
    model: Mllm,
    enc: PromptEncoder,
    catalog: Arc<Catalog>,
    targets: Vec<Vec<u32>>,
    trie: Trie,
    unconstrained: bool,
    candidates: Option<Arc<CandidateFn>>,
}

impl MllmRecommender {
    pub fn build(catalog: Arc<Catalog>, opts: &MllmOptions) -> Result<Self> {
        let dev = Device::Cpu;
        let record = match &opts.adapter {
            Some(dir) => Some(checkpoint::read_record(dir)?),
            None => None,
        };
        let backbone = opts
            .backbone
            .clone()
            .or_else(|| {
                record
                    .as_ref()
                    .map(|r| PathBuf::from(&r.backbone))
                    .filter(|p| p.exists())
            })
            .unwrap_or_else(crate::load::default_backbone);
        let base = BaseModel::load(&backbone, &dev).with_context(|| {
            format!(
                "loading the mllm backbone {} (run scripts/fetch-weights.sh smollm2, or pass a backbone)",
                backbone.display()
            )
        })?;
        let (lora, media_dim) = match &record {
            Some(r) => (r.lora.clone(), r.media_dim),
            None => (
                LoraConfig {
                    targets: Vec::new(),
                    ..LoraConfig::default()
                },
                1,
            ),
        };
        let enc = PromptEncoder::new(base.tokenizer.clone());
        let model = Mllm::new(base.config.clone(), base.var_builder(&dev), lora, media_dim)?;
        if let Some(dir) = &opts.adapter {
            checkpoint::load_adapter(&model, dir)?;
        }
        Self::from_parts(model, enc, catalog, opts.unconstrained)
    }

    pub fn from_parts(
        model: Mllm,
        enc: PromptEncoder,
        catalog: Arc<Catalog>,
        unconstrained: bool,
    ) -> Result<Self> {
        let targets = crate::train::catalog_targets(&enc, &catalog)?;
        let trie = Trie::new(&targets)?;
        Ok(MllmRecommender {
            model,
            enc,
            catalog,
            targets,
            trie,
            unconstrained,
            candidates: None,
        })
    }

    /// Ranks only the ids `f` returns for each query (unknown ids are ignored).
    pub fn with_candidates(mut self, f: Arc<CandidateFn>) -> Self {
        self.candidates = Some(f);
        self
    }

    /// Recommends with an optional media embedding (`[media_dim]`) for the
    /// soft token and an optional candidate restriction.
    pub fn recommend_with(
        &self,
        query: &Query,
        k: usize,
        media: Option<&Tensor>,
        among: Option<&[String]>,
    ) -> Result<Recommendation> {
        let prompt = self
            .enc
            .prompt(&query.instruction, query.modality, media.is_some())?;
        let (lp, cache) = prefill(&self.model, &prompt, media)?;
        if self.unconstrained {
            let (text, logp) = greedy_free(&self.model, &self.enc, &lp, &cache, 64)?;
            let ranked = parse_response(&text)
                .filter(|id| self.catalog.contains(id))
                .map(|id| {
                    vec![Scored {
                        id,
                        score: logp.exp(),
                    }]
                })
                .unwrap_or_default();
            return Ok(Recommendation {
                ranked,
                raw: Some(text),
                findings: None,
            });
        }
        let (trie, ids): (std::borrow::Cow<Trie>, Vec<usize>) = match among {
            None => (
                std::borrow::Cow::Borrowed(&self.trie),
                (0..self.targets.len()).collect(),
            ),
            Some(list) => {
                let mut idx: Vec<usize> = list
                    .iter()
                    .filter_map(|id| self.catalog.position(id))
                    .collect();
                idx.sort_unstable();
                idx.dedup();
                if idx.is_empty() {
                    return Ok(Recommendation::default());
                }
                let seqs: Vec<Vec<u32>> = idx.iter().map(|&i| self.targets[i].clone()).collect();
                (std::borrow::Cow::Owned(Trie::new(&seqs)?), idx)
            }
        };
        let found = beam_search(&self.model, &trie, &lp, &cache, k)?;
        let cards = self.catalog.cards();
        let ranked: Vec<Scored> = found
            .into_iter()
            .map(|(c, logp)| Scored {
                id: cards[ids[c]].id.clone(),
                score: logp.exp(),
            })
            .collect();
        let raw = ranked.first().map(|s| format_response(&s.id));
        Ok(Recommendation {
            ranked,
            raw,
            findings: None,
        })
    }

    pub fn model(&self) -> &Mllm {
        &self.model
    }
}

impl Recommender for MllmRecommender {
    fn name(&self) -> &str {
        if self.unconstrained {
            "mllm-unconstrained"
        } else {
            "mllm"
        }
    }

    fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn recommend(&self, query: &Query, k: usize) -> Result<Recommendation> {
        let among = match &self.candidates {
            Some(f) => Some(f(query)?),
            None => None,
        };
        self.recommend_with(query, k, None, among.as_deref())
    }
}

/// The default adapter shipped with the repository, if present.
pub fn default_adapter(repo_root: &Path) -> Option<PathBuf> {
    let p = repo_root.join("adapters/default");
    p.join(checkpoint::RECORD_FILE).exists().then_some(p)
}
