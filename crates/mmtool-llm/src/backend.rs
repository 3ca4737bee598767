//! The `mllm` recommender backend.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result};
use candle_core::{Device, Tensor};
use mmtool_catalog::Catalog;
use mmtool_data::Modality;
use mmtool_recommend::{
    format_response, parse_response, Query, Recommendation, Recommender, Scored,
};

use crate::checkpoint;
use crate::decode::{beam_search, greedy_free, prefill, score_trie, Trie};

/// Candidate lists up to this long are scored whole with tree attention
/// instead of beam search.
pub const TREE_SCORING_MAX: usize = 64;
use crate::llama::{KvCache, LoraConfig, Mllm};
use crate::load::BaseModel;
use crate::prompt::PromptEncoder;

/// A first stage's shortlist for a query (e.g. retrieval's top-n), with its
/// scores (higher is better).
pub type CandidateFn = dyn Fn(&Query) -> Result<Vec<Scored>> + Send + Sync;

/// How the MLLM uses a first stage's shortlist.
#[derive(Clone)]
pub struct Shortlist {
    pub candidates: Arc<CandidateFn>,
    /// Weight of the first stage's score added to the MLLM's log-likelihood
    /// of each candidate (0 = the MLLM alone chooses among the candidates).
    pub weight: f32,
}

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
    shortlist: Option<Shortlist>,
    calibrated: bool,
    /// log P(id | the prompt with no instruction and no media), per
    /// (modality, catalog index): the same for every request, so kept.
    null_logp: std::sync::Mutex<std::collections::HashMap<(Modality, usize), f32>>,
    /// The empty request's prefill per modality, so a request pays only for
    /// its candidates' tree pass.
    null_prompt: std::sync::Mutex<std::collections::HashMap<Modality, (Tensor, KvCache)>>,
    /// sha256 of the adapter's tensors, naming the weights saved null scores belong to.
    adapter_sha256: Option<String>,
}

/// The empty request's log-likelihood of each catalog id per modality, saved
/// next to an adapter ([`MllmRecommender::save_null_scores`]) so that
/// calibrated scoring costs nothing extra per request.
pub const NULL_SCORES_FILE: &str = "null_scores.json";
const NULL_SCORES_FORMAT: &str = "mmtool-null-scores/1";
const MODALITIES: [Modality; 4] = [
    Modality::Text,
    Modality::Image,
    Modality::Audio,
    Modality::Video,
];

#[derive(serde::Serialize, serde::Deserialize)]
struct NullScoresFile {
    format: String,
    adapter_sha256: String,
    /// modality -> tool id -> log-likelihood.
    scores: std::collections::BTreeMap<Modality, std::collections::BTreeMap<String, f32>>,
}

fn file_sha256(path: &Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(format!("{:x}", sha2::Sha256::digest(&bytes)))
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
        let mut r = Self::from_parts(model, enc, catalog, opts.unconstrained)?;
        if let Some(dir) = &opts.adapter {
            r.adapter_sha256 = Some(file_sha256(&dir.join(checkpoint::TENSORS_FILE))?);
            r.load_null_scores(dir);
        }
        Ok(r)
    }

    /// Names the adapter weights (sha256 of `adapter.safetensors`; `build`
    /// sets it) that saved null scores must match.
    pub fn with_adapter_sha256(mut self, sha: String) -> Self {
        self.adapter_sha256 = Some(sha);
        self
    }

    /// Reads `dir/null_scores.json` when it was computed with these adapter
    /// weights, returning how many scores it gave; anything else (absent,
    /// other weights, unreadable) is ignored (0) and the scores are
    /// computed when needed.
    pub fn load_null_scores(&self, dir: &Path) -> usize {
        let p = dir.join(NULL_SCORES_FILE);
        let Ok(text) = std::fs::read_to_string(&p) else {
            return 0;
        };
        let file: NullScoresFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!("{}: ignored, unreadable: {e}", p.display());
                return 0;
            }
        };
        if file.format != NULL_SCORES_FORMAT
            || Some(&file.adapter_sha256) != self.adapter_sha256.as_ref()
        {
            tracing::warn!("{}: ignored, made for other adapter weights", p.display());
            return 0;
        }
        let mut memo = self.null_logp.lock().expect("null-prompt memo");
        let mut n = 0;
        for (modality, by_id) in file.scores {
            for (id, logp) in by_id {
                if let Some(i) = self.catalog.position(&id) {
                    memo.insert((modality, i), logp);
                    n += 1;
                }
            }
        }
        n
    }

    /// Computes the empty request's score of every catalog id for every
    /// modality (64 ids per forward pass).
    pub fn precompute_null_scores(&self) -> Result<()> {
        let all: Vec<usize> = (0..self.targets.len()).collect();
        for m in MODALITIES {
            for chunk in all.chunks(TREE_SCORING_MAX) {
                self.null_scores(m, chunk)?;
            }
        }
        Ok(())
    }

    /// Writes the known empty-request scores to `dir/null_scores.json`
    /// (atomically), tagged with the adapter weights' hash.
    pub fn save_null_scores(&self, dir: &Path) -> Result<PathBuf> {
        let sha = self
            .adapter_sha256
            .clone()
            .context("null scores belong to an adapter; this model was built without one")?;
        let cards = self.catalog.cards();
        let mut scores: std::collections::BTreeMap<
            Modality,
            std::collections::BTreeMap<String, f32>,
        > = Default::default();
        for ((m, i), logp) in self.null_logp.lock().expect("null-prompt memo").iter() {
            scores
                .entry(*m)
                .or_default()
                .insert(cards[*i].id.clone(), *logp);
        }
        let file = NullScoresFile {
            format: NULL_SCORES_FORMAT.into(),
            adapter_sha256: sha,
            scores,
        };
        let p = dir.join(NULL_SCORES_FILE);
        checkpoint::write_atomic(&p, serde_json::to_string(&file)?.as_bytes())?;
        Ok(p)
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
            shortlist: None,
            calibrated: false,
            null_logp: Default::default(),
            null_prompt: Default::default(),
            adapter_sha256: None,
        })
    }

    /// Scores shortlisted candidates by how much the request raises their
    /// likelihood: `log P(id | request) - log P(id | empty request)` (the
    /// "empty request" has the request's modality word, no instruction and no
    /// media). The raw likelihood mostly measures how often and how short an
    /// id is: the trained adapter put `unknown`, the shortest id, first for
    /// every request of the synthetic media set (docs/llm.md).
    pub fn with_calibration(mut self, on: bool) -> Self {
        self.calibrated = on;
        self
    }

    /// Turns `score_trie`'s `(position in idx, log-likelihood)` pairs into
    /// likelihood gains over the empty request, best first.
    fn calibrate(
        &self,
        modality: Modality,
        idx: &[usize],
        found: &mut [(usize, f32)],
    ) -> Result<()> {
        let null = self.null_scores(modality, idx)?;
        for (c, logp) in found.iter_mut() {
            *logp -= null[*c];
        }
        found.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok(())
    }

    /// `log P(id | empty request)` for catalog indices `idx`, computed once
    /// per (modality, id).
    fn null_scores(&self, modality: Modality, idx: &[usize]) -> Result<Vec<f32>> {
        let missing: Vec<usize> = {
            let memo = self.null_logp.lock().expect("null-prompt memo");
            idx.iter()
                .copied()
                .filter(|i| !memo.contains_key(&(modality, *i)))
                .collect()
        };
        if !missing.is_empty() {
            let cached = self
                .null_prompt
                .lock()
                .expect("null-prompt cache")
                .get(&modality)
                .cloned();
            let (lp, cache) = match cached {
                Some(c) => c,
                None => {
                    let prompt = self.enc.prompt("", modality, false)?;
                    let c = prefill(&self.model, &prompt, None)?;
                    self.null_prompt
                        .lock()
                        .expect("null-prompt cache")
                        .insert(modality, c.clone());
                    c
                }
            };
            let seqs: Vec<Vec<u32>> = missing.iter().map(|&i| self.targets[i].clone()).collect();
            let found = score_trie(&self.model, &Trie::new(&seqs)?, &lp, &cache)?;
            let mut memo = self.null_logp.lock().expect("null-prompt memo");
            for (c, logp) in found {
                memo.insert((modality, missing[c]), logp);
            }
        }
        let memo = self.null_logp.lock().expect("null-prompt memo");
        Ok(idx.iter().map(|i| memo[&(modality, *i)]).collect())
    }

    /// Ranks only the ids the shortlist returns for each query (unknown ids
    /// are ignored), fusing their first-stage scores when its weight is not 0.
    pub fn with_shortlist(mut self, shortlist: Shortlist) -> Self {
        self.shortlist = Some(shortlist);
        self
    }

    /// Exact log-likelihood of each listed catalog id as the answer, best
    /// first (ids not in the catalog are dropped), all in one tree-attention
    /// pass over the list's trie.
    pub fn score_ids(
        &self,
        query: &Query,
        media: Option<&Tensor>,
        ids: &[String],
    ) -> Result<Vec<(String, f32)>> {
        let prompt = self
            .enc
            .prompt(&query.instruction, query.modality, media.is_some())?;
        let (lp, cache) = prefill(&self.model, &prompt, media)?;
        let (trie, idx) = self.sub_trie(ids)?;
        if idx.is_empty() {
            return Ok(Vec::new());
        }
        let mut found = score_trie(&self.model, &trie, &lp, &cache)?;
        if self.calibrated {
            self.calibrate(query.modality, &idx, &mut found)?;
        }
        let cards = self.catalog.cards();
        Ok(found
            .into_iter()
            .map(|(c, logp)| (cards[idx[c]].id.clone(), logp))
            .collect())
    }

    fn sub_trie(&self, ids: &[String]) -> Result<(Trie, Vec<usize>)> {
        let mut idx: Vec<usize> = ids
            .iter()
            .filter_map(|id| self.catalog.position(id))
            .collect();
        idx.sort_unstable();
        idx.dedup();
        let seqs: Vec<Vec<u32>> = idx.iter().map(|&i| self.targets[i].clone()).collect();
        Ok((Trie::new(&seqs)?, idx))
    }

    /// Ranks the shortlist by MLLM log-likelihood + `weight` x first-stage
    /// score; the reported scores are a softmax over the shortlist.
    pub fn recommend_fused(
        &self,
        query: &Query,
        k: usize,
        media: Option<&Tensor>,
        prior: &[Scored],
        weight: f32,
    ) -> Result<Recommendation> {
        let ids: Vec<String> = prior.iter().map(|s| s.id.clone()).collect();
        let scored = self.score_ids(query, media, &ids)?;
        let prior: std::collections::HashMap<&str, f32> =
            prior.iter().map(|s| (s.id.as_str(), s.score)).collect();
        let fused = fuse(&scored, &prior, weight);
        let ranked: Vec<Scored> = fused.into_iter().take(k.max(1)).collect();
        let raw = ranked.first().map(|s| format_response(&s.id));
        Ok(Recommendation {
            ranked,
            raw,
            findings: None,
        })
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
                let (trie, idx) = self.sub_trie(list)?;
                if idx.is_empty() {
                    return Ok(Recommendation::default());
                }
                (std::borrow::Cow::Owned(trie), idx)
            }
        };
        // A short list is scored whole in one pass; the whole catalog's trie
        // (thousands of nodes) would make the tree-attention mask too big.
        let cards = self.catalog.cards();
        let ranked: Vec<Scored> = if ids.len() <= TREE_SCORING_MAX && self.calibrated {
            let mut all = score_trie(&self.model, &trie, &lp, &cache)?;
            self.calibrate(query.modality, &ids, &mut all)?;
            // Calibrated scores are not probabilities: report a softmax over the list.
            let scored: Vec<(String, f32)> = all
                .into_iter()
                .map(|(c, v)| (cards[ids[c]].id.clone(), v))
                .collect();
            let mut fused = fuse(&scored, &Default::default(), 0.0);
            fused.truncate(k.max(1));
            fused
        } else {
            let found = if ids.len() <= TREE_SCORING_MAX {
                let mut all = score_trie(&self.model, &trie, &lp, &cache)?;
                all.truncate(k.max(1));
                all
            } else {
                beam_search(&self.model, &trie, &lp, &cache, k)?
            };
            found
                .into_iter()
                .map(|(c, logp)| Scored {
                    id: cards[ids[c]].id.clone(),
                    score: logp.exp(),
                })
                .collect()
        };
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

    /// The media soft token's input for a query that carries encoder
    /// features, and a note on whether it is used. Features of another
    /// width than the adapter's projection reads cannot be projected: the
    /// request is then answered from its words and modality, and the note
    /// says why.
    pub fn media_token(&self, query: &Query) -> Result<(Option<Tensor>, Option<String>)> {
        let Some(f) = &query.media_features else {
            return Ok((None, None));
        };
        let want = self.model.media_dim();
        if f.len() != want {
            return Ok((
                None,
                Some(format!(
                    "not used: this adapter's media projection reads {want} values, the encoders \
                     give {} (train an adapter with media_dim = {} on items with media)",
                    f.len(),
                    f.len()
                )),
            ));
        }
        let t = Tensor::from_slice(f, want, self.model.device())?;
        Ok((
            Some(t),
            Some(format!(
                "used: {want} encoder values projected to one token"
            )),
        ))
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
        let (media, note) = self.media_token(query)?;
        let media = media.as_ref();
        let mut rec = match &self.shortlist {
            Some(sl) if !self.unconstrained => {
                let prior = (sl.candidates)(query)?;
                if sl.weight == 0.0 {
                    let ids: Vec<String> = prior.into_iter().map(|s| s.id).collect();
                    self.recommend_with(query, k, media, Some(&ids))?
                } else {
                    self.recommend_fused(query, k, media, &prior, sl.weight)?
                }
            }
            _ => self.recommend_with(query, k, media, None)?,
        };
        if let Some(note) = note {
            rec.findings = Some(serde_json::json!({ "media_token": note }));
        }
        Ok(rec)
    }
}

/// Temperature of the fused scores per unit of fusion weight: when the prior
/// dominates, `(logp + w x prior) / (w x 0.05)` is about `prior / 0.05`, the
/// softmax over cosines the retrieval query adapter is trained with.
pub const PRIOR_TEMPERATURE: f32 = 0.05;

/// Fuses MLLM log-likelihoods with first-stage scores: `logp + weight x
/// prior` (a candidate missing from `prior` gets the lowest prior), best
/// first, reported as a softmax over the candidates at temperature
/// `max(1, weight x PRIOR_TEMPERATURE)`, so that a large weight ranks by the
/// prior without turning every score into 1 or 0. Ties keep `scored` order.
pub fn fuse(
    scored: &[(String, f32)],
    prior: &std::collections::HashMap<&str, f32>,
    weight: f32,
) -> Vec<Scored> {
    let floor = prior.values().copied().fold(f32::INFINITY, f32::min);
    let floor = if floor.is_finite() { floor } else { 0.0 };
    let mut z: Vec<(String, f32)> = scored
        .iter()
        .map(|(id, lp)| {
            let p = prior.get(id.as_str()).copied().unwrap_or(floor);
            (id.clone(), lp + weight * p)
        })
        .collect();
    z.sort_by(|a, b| b.1.total_cmp(&a.1));
    let max = z.first().map(|x| x.1).unwrap_or(0.0);
    let t = (weight * PRIOR_TEMPERATURE).max(1.0);
    let sum: f32 = z.iter().map(|x| ((x.1 - max) / t).exp()).sum();
    z.into_iter()
        .map(|(id, v)| Scored {
            id,
            score: ((v - max) / t).exp() / sum,
        })
        .collect()
}

/// The default adapter shipped with the repository, if present.
pub fn default_adapter(repo_root: &Path) -> Option<PathBuf> {
    let p = repo_root.join("adapters/default");
    p.join(checkpoint::RECORD_FILE).exists().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn ids(v: &[Scored]) -> Vec<&str> {
        v.iter().map(|s| s.id.as_str()).collect()
    }

    #[test]
    fn fusion_weight_zero_keeps_the_mllm_order_and_scores_sum_to_one() {
        let scored = vec![("a".to_string(), -1.0), ("b".to_string(), -2.0)];
        let prior = HashMap::from([("a", 0.1f32), ("b", 0.9)]);
        let f = fuse(&scored, &prior, 0.0);
        assert_eq!(ids(&f), vec!["a", "b"]);
        let sum: f32 = f.iter().map(|s| s.score).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        // e^-1 / (e^-1 + e^-2)
        assert!((f[0].score - 0.731_058_6).abs() < 1e-5);
    }

    #[test]
    fn a_heavy_prior_overturns_the_mllm_and_missing_priors_get_the_floor() {
        let scored = vec![
            ("a".to_string(), -1.0),
            ("b".to_string(), -2.0),
            ("c".to_string(), -1.5),
        ];
        let prior = HashMap::from([("a", 0.1f32), ("b", 0.9)]);
        // b: -2 + 10*0.9 = 7; a: -1 + 1 = 0; c (floor 0.1): -1.5 + 1 = -0.5
        assert_eq!(ids(&fuse(&scored, &prior, 10.0)), vec!["b", "a", "c"]);
        assert!(fuse(&[], &prior, 1.0).is_empty());
    }

    #[test]
    fn heavy_weights_keep_scores_graded() {
        // Equal likelihoods, priors 0.03 apart (a typical gap between
        // retrieval's first two): at weight 500 the gap is 15 nats, which
        // a plain softmax would report as 1.000 and 0.000.
        let scored = vec![("a".to_string(), -3.0), ("b".to_string(), -3.0)];
        let prior = HashMap::from([("a", 0.50f32), ("b", 0.53)]);
        let f = fuse(&scored, &prior, 500.0);
        assert_eq!(ids(&f), vec!["b", "a"]);
        let sum: f32 = f.iter().map(|s| s.score).sum();
        assert!((sum - 1.0).abs() < 1e-6);
        // softmax of the priors at temperature 0.05: 1 / (1 + e^-0.6)
        assert!((f[0].score - 0.645_656).abs() < 1e-4, "{f:?}");
        // Up to weight 20 the temperature stays 1: scores in nats, as before.
        let g = fuse(&scored, &prior, 20.0);
        assert!(
            (g[0].score - 1.0 / (1.0 + (-0.6f32).exp())).abs() < 1e-4,
            "{g:?}"
        );
    }
}
