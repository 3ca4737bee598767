//! The `retrieval` backend: embed the request, score every tool by cosine
//! similarity to its card vector plus a share of its BM25 score (hybrid
//! retrieval), penalise tools whose input modality differs from the
//! request's, and give `unknown` ("no tool fits") a fixed score that it
//! outranks every tool below.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use mmtool_catalog::{Catalog, UNKNOWN_ID};
use mmtool_data::{Item, Modality};
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::language;
use mmtool_recommend::{Query, Recommendation, Recommender, Scored};

use crate::adapter::Adapter;
use crate::index::{default_cache_dir, CardIndex, IndexConfig};
use crate::minilm::{default_model_dir, MiniLm};
use crate::search::top_n;
use crate::store::EmbeddingStore;
use crate::tuned::{tuned_path, TunedLayers};

/// Knobs of the retrieval backend.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalConfig {
    pub index: IndexConfig,
    /// How cosine, lexical score, modality and `unknown` make a tool's score.
    pub scoring: Scoring,
    pub model_dir: PathBuf,
    pub cache_dir: PathBuf,
    /// Use a fine-tuned query adapter: the one `mmtool retrieval train` left
    /// in `cache_dir`, else `shipped_adapter`.
    pub use_adapter: bool,
    /// The adapter that ships with the repository (`adapters/retrieval/`),
    /// so that a fresh machine ranks as the measured figures say.
    pub shipped_adapter: Option<PathBuf>,
    /// Shipped fine-tuned top layers of the query encoder
    /// (`adapters/retrieval/tuned-minilm.safetensors`); preferred to the
    /// shipped linear adapter.
    pub shipped_tuned: Option<PathBuf>,
    /// Where prebuilt card indexes ship (`adapters/retrieval/`), copied into
    /// the cache when they fit the catalog, training data and config.
    pub shipped_index_dir: Option<PathBuf>,
}

/// Where the repository keeps its fine-tuned query adapter.
pub const SHIPPED_ADAPTER: &str = "adapters/retrieval/adapter-minilm.safetensors";

/// Where the repository keeps its fine-tuned query-encoder layers.
pub const SHIPPED_TUNED: &str = "adapters/retrieval/tuned-minilm.safetensors";

/// [`Scoring::language_weight`]'s default: off. On the training dev split a
/// weight of 0.15 raised R@1 from 48.88 to 49.43 %, but on test.json it lost
/// 2 items and 5 of the 12 `unknown` answers (1,136 of its 1,903 requests
/// quote text, mostly English, and the reward lifts English tools over
/// `unknown`'s fixed score; docs/retrieval.md, session 9). `--language-weight`
/// on `mmtool retrieval eval` turns it on there.
pub const DEFAULT_LANGUAGE_WEIGHT: f32 = 0.0;

/// The shipped adapter: under the working directory, else under this
/// source tree (a `cargo run` from elsewhere).
pub fn shipped_adapter() -> Option<PathBuf> {
    shipped(SHIPPED_ADAPTER)
}

/// The shipped tuned layers, found like [`shipped_adapter`].
pub fn shipped_tuned() -> Option<PathBuf> {
    shipped(SHIPPED_TUNED)
}

fn shipped(rel: &str) -> Option<PathBuf> {
    let here = PathBuf::from(rel);
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    [here, repo].into_iter().find(|p| p.exists())
}

/// How request texts become query vectors.
pub enum QueryEncoder {
    /// The plain model, the same one that embeds the cards.
    Plain,
    /// The plain model followed by a linear adapter.
    Linear(Adapter),
    /// A model whose top layers were fine-tuned for queries.
    Tuned(Box<MiniLm>),
}

impl QueryEncoder {
    /// What a fine-tuned query side the cache or the repository holds, in
    /// this order: the user's tuned layers, the user's linear adapter, the
    /// shipped tuned layers, the shipped linear adapter.
    pub fn find(cfg: &RetrievalConfig, dim: usize) -> Result<Self> {
        if !cfg.use_adapter {
            return Ok(QueryEncoder::Plain);
        }
        let tuned = |t: TunedLayers, from: &std::path::Path| -> Result<Self> {
            let m = MiniLm::load_tuned(&cfg.model_dir, Some(&t)).with_context(|| {
                format!("{}: tuned layers do not fit the model", from.display())
            })?;
            Ok(QueryEncoder::Tuned(Box::new(m)))
        };
        if let Some(t) = TunedLayers::load_cached(&cfg.cache_dir)? {
            return tuned(t, &tuned_path(&cfg.cache_dir));
        }
        if let Some(a) = Adapter::load_cached(&cfg.cache_dir, dim)? {
            return Ok(QueryEncoder::Linear(a));
        }
        if let Some(p) = &cfg.shipped_tuned {
            return tuned(TunedLayers::load(p)?, p);
        }
        if let Some(p) = &cfg.shipped_adapter {
            return Ok(QueryEncoder::Linear(Adapter::load(p, dim)?));
        }
        Ok(QueryEncoder::Plain)
    }

    /// A short name for reports.
    pub fn kind(&self) -> &'static str {
        match self {
            QueryEncoder::Plain => "base",
            QueryEncoder::Linear(_) => "linear adapter",
            QueryEncoder::Tuned(_) => "tuned layers",
        }
    }
}

/// How a tool's score is made (all three knobs tuned on the training dev
/// split, docs/retrieval.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// Subtracted from the cosine of tools whose input modality differs from
    /// the query's (0 = no modality prior).
    pub mismatch_penalty: f32,
    /// Weight of the tool's BM25 score over its card text, divided by the
    /// request's best BM25 score so that it lies in [0, 1] (0 = dense
    /// retrieval only).
    pub lexical_weight: f32,
    /// Fixed score of `unknown`: similarity cannot place "no tool fits"
    /// (its training requests have nothing in common), so it ranks above
    /// exactly the tools that score below this threshold. `None`: scored by
    /// its card vector like any tool.
    pub unknown_score: Option<f32>,
    /// Weight of the fit between the language of the text the request
    /// quotes and the languages on a tool's card
    /// ([`mmtool_recommend::language::language_fit`], in [0, 1]; 0 = not
    /// used).
    pub language_weight: f32,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            mismatch_penalty: 0.1,
            lexical_weight: 0.1,
            unknown_score: Some(0.35),
            language_weight: DEFAULT_LANGUAGE_WEIGHT,
        }
    }
}

impl Scoring {
    /// Per index row (`languages` from [`row_languages`]), how the tool's card
    /// languages fit the language of the text `instruction` quotes. `None`
    /// when it quotes none that can be called, or when this scoring does not
    /// weigh languages (the quote is then not read at all).
    pub fn language_scores(
        &self,
        languages: &[Vec<String>],
        instruction: &str,
    ) -> Option<Vec<f32>> {
        if self.language_weight == 0.0 {
            return None;
        }
        Some(language_fits(
            languages,
            &language::detect_quoted(instruction)?,
        ))
    }

    /// Cosine and modality penalty only (the ranking the adapter is trained
    /// and the index is tuned for).
    pub fn dense(mismatch_penalty: f32) -> Self {
        Scoring {
            mismatch_penalty,
            lexical_weight: 0.0,
            unknown_score: None,
            language_weight: 0.0,
        }
    }
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            index: IndexConfig::default(),
            scoring: Scoring::default(),
            model_dir: default_model_dir(),
            cache_dir: default_cache_dir(),
            use_adapter: true,
            shipped_adapter: shipped_adapter(),
            shipped_tuned: shipped_tuned(),
            shipped_index_dir: shipped_adapter().and_then(|p| p.parent().map(PathBuf::from)),
        }
    }
}

pub struct RetrievalRecommender {
    catalog: Arc<Catalog>,
    model: MiniLm,
    index: CardIndex,
    query: QueryEncoder,
    scoring: Scoring,
    /// Built when `scoring.lexical_weight` is not 0.
    lexical: Option<Bm25Recommender>,
    /// The languages on each index row's card (empty for rows the catalog
    /// no longer has).
    languages: Vec<Vec<String>>,
}

impl RetrievalRecommender {
    /// Loads the model, the cached card index (building it if the catalog or
    /// training data changed) and the fine-tuned adapter if there is one.
    pub fn open(catalog: Arc<Catalog>, training: &[Item], cfg: &RetrievalConfig) -> Result<Self> {
        let model = MiniLm::load(&cfg.model_dir)?;
        let (index, rebuilt) = CardIndex::load_shipped_or_build(
            &cfg.cache_dir,
            cfg.shipped_index_dir.as_deref(),
            &model,
            &catalog,
            training,
            &cfg.index,
        )?;
        if rebuilt {
            tracing::info!("built the card index for {} tools", index.len());
        }
        let query = QueryEncoder::find(cfg, model.dim())?;
        Ok(Self::from_parts(catalog, model, index, query, cfg.scoring))
    }

    /// The lexical part is BM25 over the card texts alone: with the tools'
    /// training instructions in it, it favoured tools that have some and
    /// pushed down tools added without any (unseen tools: R@5 50.9 -> 41.5 %,
    /// docs/retrieval.md), and on the dev split card text alone did better.
    pub fn from_parts(
        catalog: Arc<Catalog>,
        model: MiniLm,
        index: CardIndex,
        query: QueryEncoder,
        scoring: Scoring,
    ) -> Self {
        let lexical = (scoring.lexical_weight != 0.0)
            .then(|| Bm25Recommender::build(catalog.clone(), &[], Bm25Config::default()));
        let languages = row_languages(&catalog, &index);
        RetrievalRecommender {
            languages,
            catalog,
            model,
            index,
            query,
            scoring,
            lexical,
        }
    }

    pub fn scoring(&self) -> &Scoring {
        &self.scoring
    }

    pub fn model(&self) -> &MiniLm {
        &self.model
    }

    pub fn index(&self) -> &CardIndex {
        &self.index
    }

    /// The query side in use.
    pub fn query_encoder(&self) -> &QueryEncoder {
        &self.query
    }

    /// Query vectors (row-major) through the query side in use.
    pub fn embed_queries(&self, texts: &[&str]) -> Result<Vec<f32>> {
        self.embed_queries_with(texts, None)
    }

    /// [`RetrievalRecommender::embed_queries`], taking plain-model vectors
    /// from `store` (and adding new ones to it) where the query side starts
    /// from them.
    pub fn embed_queries_with(
        &self,
        texts: &[&str],
        store: Option<&mut EmbeddingStore>,
    ) -> Result<Vec<f32>> {
        let embed = |m: &MiniLm| {
            if texts.len() > 64 {
                m.embed_with_progress(texts, "queries")
            } else {
                m.embed(texts)
            }
        };
        let plain = |store: Option<&mut EmbeddingStore>| match store {
            Some(s) => {
                let e = s.get_or_embed(&self.model, texts, "queries")?;
                s.save()?;
                Ok(e)
            }
            None => embed(&self.model),
        };
        match &self.query {
            QueryEncoder::Plain => plain(store),
            QueryEncoder::Linear(a) => a.apply(&plain(store)?),
            QueryEncoder::Tuned(m) => embed(m),
        }
    }

    /// Ranks tools for an already embedded query (`query` gives the words
    /// for the lexical score and the modality).
    pub fn rank(&self, query_vec: &[f32], query: &Query, n: usize) -> Vec<Scored> {
        self.rank_by(query_vec, query, n, &self.scoring)
    }

    /// [`RetrievalRecommender::rank`] with other scoring knobs (the lexical
    /// part needs a lexical weight at open time to exist).
    pub fn rank_by(
        &self,
        query_vec: &[f32],
        query: &Query,
        n: usize,
        scoring: &Scoring,
    ) -> Vec<Scored> {
        let lexical = match &self.lexical {
            Some(bm) if scoring.lexical_weight != 0.0 => {
                Some(lexical_scores(bm.scores(query), self.index.len()))
            }
            _ => None,
        };
        let language = scoring.language_scores(&self.languages, &query.instruction);
        rank_scored(
            &self.index,
            query_vec,
            query.modality,
            lexical.as_deref(),
            language.as_deref(),
            scoring,
            n,
        )
    }

    /// The shortlist a heavier backend (the MLLM) restricts its choice to:
    /// the `n` tools closest to the query, best first, with `unknown` always
    /// among them (see [`shortlist`]).
    pub fn candidates(&self, query: &Query, n: usize) -> Result<Vec<Scored>> {
        self.candidates_by(query, n, &self.scoring)
    }

    /// [`RetrievalRecommender::candidates`] with other scoring knobs.
    pub fn candidates_by(&self, query: &Query, n: usize, scoring: &Scoring) -> Result<Vec<Scored>> {
        let q = self.embed_queries(&[query.ranking_text().as_ref()])?;
        Ok(shortlist(
            self.rank_by(&q, query, self.index.len(), scoring),
            n,
        ))
    }
}

/// The first `n` of a full ranking, with the last place given to
/// `unknown` (no tool fits) when it is not already in. Similarity to a card
/// cannot rank "nothing fits" (its requests share no wording), so the
/// second stage, which is trained to answer `unknown`, must always be able
/// to choose it. `unknown` keeps its own score.
pub fn shortlist(ranked: Vec<Scored>, n: usize) -> Vec<Scored> {
    shortlist_by(ranked, n, |s| s.id == UNKNOWN_ID)
}

/// [`shortlist`] over any ranked list, `is_unknown` telling which entry is `unknown`.
pub fn shortlist_by<T>(mut ranked: Vec<T>, n: usize, is_unknown: impl Fn(&T) -> bool) -> Vec<T> {
    match ranked.iter().position(is_unknown) {
        Some(p) if p >= n && n > 0 => {
            let unknown = ranked.swap_remove(p);
            ranked.truncate(n - 1);
            ranked.push(unknown);
        }
        _ => ranked.truncate(n),
    }
    ranked
}

/// Ranks `index` for a query vector by cosine with the modality penalty.
pub fn rank_with(
    index: &CardIndex,
    query_vec: &[f32],
    modality: Modality,
    penalty: f32,
    n: usize,
) -> Vec<Scored> {
    rank_scored(
        index,
        query_vec,
        modality,
        None,
        None,
        &Scoring::dense(penalty),
        n,
    )
}

/// Recall@k of [`rank_scored`] for items whose queries are already embedded
/// (row `i` of `qs`, lexical vector `lexical[i]`), e.g. for tuning or held-out
/// measurements that rebuild the index.
pub fn recall_scored(
    index: &CardIndex,
    qs: &[f32],
    items: &[Item],
    lexical: &[Vec<f32>],
    language: &[Option<Vec<f32>>],
    scoring: &Scoring,
    ks: &[usize],
) -> crate::eval::Metrics {
    let depth = ks.iter().copied().max().unwrap_or(1);
    let ranked: Vec<Vec<String>> = qs
        .chunks_exact(index.dim)
        .zip(items)
        .zip(lexical.iter().zip(language))
        .map(|((q, it), (l, lang))| {
            rank_scored(
                index,
                q,
                it.modality,
                Some(l),
                lang.as_deref(),
                scoring,
                depth,
            )
            .into_iter()
            .map(|s| s.id)
            .collect()
        })
        .collect();
    let gold: Vec<&[String]> = items.iter().map(|i| i.answers.as_slice()).collect();
    crate::eval::Metrics::compute(&ranked, &gold, ks)
}

/// The languages on each of `index`'s rows' cards.
pub fn row_languages(catalog: &Catalog, index: &CardIndex) -> Vec<Vec<String>> {
    index
        .ids
        .iter()
        .map(|id| {
            catalog
                .get(id)
                .map(|c| c.languages.clone())
                .unwrap_or_default()
        })
        .collect()
}

/// Per index row, how the tool's card languages fit an already detected
/// language.
pub fn language_fits(languages: &[Vec<String>], detected: &language::Detected) -> Vec<f32> {
    languages
        .iter()
        .map(|l| language::language_fit(l, detected))
        .collect()
}

/// BM25 matches as a dense vector over `len` catalog positions, divided by
/// the best match's score (all 0 when nothing matches).
pub fn lexical_scores(matches: Vec<(usize, f32)>, len: usize) -> Vec<f32> {
    let best = matches.iter().map(|m| m.1).fold(0f32, f32::max);
    let mut v = vec![0f32; len];
    if best > 0.0 {
        for (pos, s) in matches {
            if pos < len {
                v[pos] = s / best;
            }
        }
    }
    v
}

/// The `n` best tools: cosine + `lexical_weight` x lexical score (one value
/// per index row, from [`lexical_scores`]) + `language_weight` x language fit
/// (from [`Scoring::language_scores`]) - the modality penalty, and `unknown` at its
/// fixed score when the scoring gives it one.
pub fn rank_scored(
    index: &CardIndex,
    query_vec: &[f32],
    modality: Modality,
    lexical: Option<&[f32]>,
    language: Option<&[f32]>,
    scoring: &Scoring,
    n: usize,
) -> Vec<Scored> {
    let unknown = scoring
        .unknown_score
        .and_then(|tau| Some((index.ids.iter().position(|id| id == UNKNOWN_ID)?, tau)));
    let bias = |i: usize| {
        if unknown.is_some_and(|(u, _)| u == i) {
            return f32::NEG_INFINITY;
        }
        let m = if index.modalities[i] == modality {
            0.0
        } else {
            -scoring.mismatch_penalty
        };
        m + lexical.map_or(0.0, |l| scoring.lexical_weight * l[i])
            + language.map_or(0.0, |l| scoring.language_weight * l[i])
    };
    let mut ranked: Vec<Scored> = top_n(&index.matrix, index.dim, query_vec, n, &bias)
        .into_iter()
        .filter(|(i, _)| unknown.is_none_or(|(u, _)| u != *i))
        .map(|(i, s)| Scored {
            id: index.ids[i].clone(),
            score: s,
        })
        .collect();
    if let Some((u, tau)) = unknown {
        let at = ranked
            .iter()
            .position(|s| s.score < tau)
            .unwrap_or(ranked.len());
        ranked.insert(
            at,
            Scored {
                id: index.ids[u].clone(),
                score: tau,
            },
        );
        ranked.truncate(n);
    }
    ranked
}

impl Recommender for RetrievalRecommender {
    fn name(&self) -> &str {
        "retrieval"
    }

    fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn recommend(&self, query: &Query, k: usize) -> Result<Recommendation> {
        // The plain ranking: the `unknown` slot is for a second stage's
        // shortlist only (`candidates`), never the retrieval answer itself.
        let q = self.embed_queries(&[query.ranking_text().as_ref()])?;
        Ok(Recommendation {
            ranked: self.rank(&q, query, k.max(1)),
            raw: None,
            findings: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::{catalog, item};
    use crate::index::CardParts;
    use crate::minilm::tests::tiny;

    fn scored(ids: &[&str]) -> Vec<Scored> {
        ids.iter()
            .enumerate()
            .map(|(i, id)| Scored {
                id: id.to_string(),
                score: 1.0 - i as f32 * 0.1,
            })
            .collect()
    }

    #[test]
    fn shortlist_always_holds_unknown_with_its_own_score() {
        let full = scored(&["a", "b", "c", "d", UNKNOWN_ID, "e"]);
        let s = shortlist(full.clone(), 3);
        let ids: Vec<&str> = s.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "b", UNKNOWN_ID]);
        assert!((s[2].score - 0.6).abs() < 1e-6);
        // Already in: plain truncation.
        let ids: Vec<String> = shortlist(full.clone(), 5)
            .into_iter()
            .map(|x| x.id)
            .collect();
        assert_eq!(ids, vec!["a", "b", "c", "d", UNKNOWN_ID]);
        assert!(shortlist(full.clone(), 0).is_empty());
        // No unknown in the ranking (a catalog without it): plain truncation.
        assert_eq!(shortlist(scored(&["a", "b", "c"]), 2).len(), 2);
    }

    fn backend(penalty: f32) -> RetrievalRecommender {
        backend_for(Arc::new(catalog()), Scoring::dense(penalty))
    }

    /// A tiny-model backend over `cat`, tool vectors from card text alone.
    fn backend_for(cat: Arc<Catalog>, scoring: Scoring) -> RetrievalRecommender {
        let m = tiny();
        let dir = tempfile::tempdir().unwrap();
        let mut store = EmbeddingStore::open(&dir.path().join("e"), "tiny", m.dim());
        let parts = CardParts::build(&m, &mut store, &cat, &[], 16).unwrap();
        let ix = CardIndex::from_parts(&cat, &parts, 1.0);
        RetrievalRecommender::from_parts(cat, m, ix, QueryEncoder::Plain, scoring)
    }

    #[test]
    fn unknown_is_held_for_the_shortlist_not_forced_into_the_answer() {
        use crate::index::tests::card;
        let cat = Arc::new(
            Catalog::from_cards(vec![
                card("o/mt", Modality::Text, "translate text to french"),
                card("o/up", Modality::Image, "make blurry photo sharp"),
                card("o/asr", Modality::Audio, "speech to text"),
                card(UNKNOWN_ID, Modality::Text, "no model can do errands"),
            ])
            .unwrap(),
        );
        let r = backend_for(cat.clone(), Scoring::dense(0.0));
        let q = Query::text(cat.get("o/mt").unwrap().search_text());
        let answer = r.recommend(&q, 1).unwrap();
        assert_eq!(answer.ranked.len(), 1);
        assert_ne!(
            answer.ranked[0].id, UNKNOWN_ID,
            "the answer is the plain ranking"
        );
        let short = r.candidates(&q, 2).unwrap();
        assert_eq!(short.len(), 2);
        assert!(short.iter().any(|s| s.id == UNKNOWN_ID), "{short:?}");
    }

    #[test]
    fn a_card_text_query_finds_its_card_and_k_truncates() {
        let r = backend(0.0);
        for (text, id) in [("o/mt", "o/mt"), ("o/up", "o/up")] {
            let text = r.catalog().get(text).unwrap().search_text();
            let rec = r.recommend(&Query::text(text), 3).unwrap();
            assert_eq!(rec.ranked.len(), 3);
            // A random tiny model can tie cards; the card's own text must score 1 and be (joint) best.
            let own = rec.ranked.iter().find(|s| s.id == id).unwrap();
            assert!(
                (own.score - 1.0).abs() < 1e-4,
                "identical text has cosine 1"
            );
            assert!(rec.ranked[0].score - own.score < 1e-4);
            assert!(rec.ranked[0].score >= rec.ranked[1].score);
        }
        assert_eq!(
            r.recommend(&Query::text("speech"), 1).unwrap().ranked.len(),
            1
        );
        assert_eq!(r.candidates(&Query::text("speech"), 100).unwrap().len(), 3);
    }

    #[test]
    fn modality_penalty_lowers_other_modalities_by_exactly_the_penalty() {
        let pen = backend(0.25);
        let q = pen.model().embed(&["photo"]).unwrap();
        let a = rank_with(pen.index(), &q, Modality::Image, 0.0, 3);
        let b = rank_with(pen.index(), &q, Modality::Image, 0.25, 3);
        for s in &a {
            let t = b.iter().find(|x| x.id == s.id).unwrap();
            let want = if s.id == "o/up" {
                s.score
            } else {
                s.score - 0.25
            };
            assert!(
                (t.score - want).abs() < 1e-5,
                "{}: {} vs {}",
                s.id,
                t.score,
                want
            );
        }
    }

    #[test]
    fn centroids_pull_tools_towards_their_training_instructions() {
        let cat = catalog();
        let m = tiny();
        let dir = tempfile::tempdir().unwrap();
        let mut store = EmbeddingStore::open(&dir.path().join("e"), "tiny", m.dim());
        let tr = vec![item("music audio", "o/asr")];
        let parts = CardParts::build(&m, &mut store, &cat, &tr, 16).unwrap();
        let ix = CardIndex::from_parts(&cat, &parts, 0.0);
        let q = m.embed(&["music audio"]).unwrap();
        let r = rank_with(&ix, &q, Modality::Text, 0.0, 1);
        assert_eq!(r[0].id, "o/asr");
        assert!((r[0].score - 1.0).abs() < 1e-4);
    }

    /// Three unit rows in 2-d, `unknown` in the middle, all one modality.
    fn tiny_index() -> CardIndex {
        CardIndex {
            ids: vec!["o/a".into(), UNKNOWN_ID.into(), "o/b".into()],
            modalities: vec![Modality::Text; 3],
            dim: 2,
            matrix: vec![1.0, 0.0, 1.0, 0.0, 0.6, 0.8],
            row_keys: Vec::new(),
        }
    }

    #[test]
    fn unknown_takes_its_fixed_score_and_ranks_above_exactly_the_tools_below_it() {
        let ix = tiny_index();
        let q = [1.0, 0.0]; // cos: a 1.0, unknown 1.0 (ignored), b 0.6
        let s = |tau| Scoring {
            mismatch_penalty: 0.0,
            lexical_weight: 0.0,
            unknown_score: Some(tau),
            language_weight: 0.0,
        };
        let r = rank_scored(&ix, &q, Modality::Text, None, None, &s(0.7), 3);
        let ids: Vec<&str> = r.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["o/a", UNKNOWN_ID, "o/b"]);
        assert_eq!(r[1].score, 0.7);
        let r = rank_scored(&ix, &q, Modality::Text, None, None, &s(1.5), 1);
        assert_eq!(r[0].id, UNKNOWN_ID, "nothing scores above the threshold");
        let r = rank_scored(&ix, &q, Modality::Text, None, None, &s(0.1), 2);
        let ids: Vec<&str> = r.iter().map(|x| x.id.as_str()).collect();
        assert_eq!(ids, ["o/a", "o/b"], "cut off below every tool");
        assert!(rank_scored(&ix, &q, Modality::Text, None, None, &s(0.7), 0).is_empty());
        // Without a fixed score, unknown competes with its card vector.
        let r = rank_with(&ix, &q, Modality::Text, 0.0, 3);
        assert_eq!(r[1].id, UNKNOWN_ID);
        assert!((r[1].score - 1.0).abs() < 1e-6);
    }

    #[test]
    fn lexical_scores_are_scaled_to_the_best_match_and_weighted_in() {
        assert_eq!(lexical_scores(vec![(0, 2.0), (2, 1.0)], 3), [1.0, 0.0, 0.5]);
        assert_eq!(lexical_scores(Vec::new(), 2), [0.0, 0.0]);
        let ix = tiny_index();
        let q = [0.0, 1.0]; // cos: a 0, b 0.8
        let lex = [1.0, 0.0, 0.0];
        let s = Scoring {
            mismatch_penalty: 0.0,
            lexical_weight: 0.9,
            unknown_score: Some(-1.0),
            language_weight: 0.0,
        };
        let r = rank_scored(&ix, &q, Modality::Text, Some(&lex), None, &s, 2);
        assert_eq!(r[0].id, "o/a", "the lexical match overtakes");
        assert!((r[0].score - 0.9).abs() < 1e-6 && (r[1].score - 0.8).abs() < 1e-6);
    }

    #[test]
    fn the_quoted_texts_language_lifts_the_tools_that_list_it_only_when_weighted() {
        use crate::index::tests::card;
        let with_langs = |id: &str, langs: &[&str]| {
            let mut c = card(id, Modality::Text, "translate this sentence into english");
            c.languages = langs.iter().map(|l| l.to_string()).collect();
            c
        };
        let cat = Arc::new(
            Catalog::from_cards(vec![
                with_langs("o/sv-en", &["sv", "en"]),
                with_langs("o/fi-en", &["fi", "en"]),
            ])
            .unwrap(),
        );
        let q = Query::text(
            "translate this sentence into english: 'Huomenna sataa lunta koko päivän, joten ota sateenvarjo mukaan.'",
        );
        let r = backend_for(cat, Scoring::dense(0.0));
        let on = Scoring {
            language_weight: 10.0,
            ..Scoring::dense(0.0)
        };
        let v = r.embed_queries(&[q.instruction.as_str()]).unwrap();
        let off = r.rank_by(&v, &q, 2, &Scoring::dense(0.0));
        let on = r.rank_by(&v, &q, 2, &on);
        let score = |ranked: &[Scored], id: &str| ranked.iter().find(|s| s.id == id).unwrap().score;
        assert_eq!(on[0].id, "o/fi-en", "{on:?}");
        assert!(score(&on, "o/fi-en") > score(&off, "o/fi-en"));
        assert_eq!(score(&on, "o/sv-en"), score(&off, "o/sv-en"), "no penalty");
    }

    #[test]
    fn the_backend_ranks_with_bm25_over_card_text_when_it_has_a_lexical_weight() {
        use crate::index::tests::card;
        let cat = Arc::new(
            Catalog::from_cards(vec![
                card("o/mt", Modality::Text, "translate text to french"),
                card("o/asr", Modality::Text, "zorblax quuxify"),
            ])
            .unwrap(),
        );
        let heavy = Scoring {
            mismatch_penalty: 0.0,
            lexical_weight: 10.0,
            unknown_score: None,
            language_weight: 0.0,
        };
        let r = backend_for(cat, heavy);
        let top = r.recommend(&Query::text("zorblax"), 1).unwrap();
        assert_eq!(top.ranked[0].id, "o/asr", "{top:?}");
        // The encoders' hint is read with the instruction.
        let mut q = Query::text("what now");
        q.media_hint = Some("zorblax audio".into());
        let top = r.recommend(&q, 1).unwrap();
        assert_eq!(top.ranked[0].id, "o/asr", "{top:?}");
    }

    #[test]
    fn query_side_prefers_the_users_own_then_tuned_layers_then_the_linear_adapter() {
        let model_dir = default_model_dir();
        if !model_dir.join(".complete").exists() {
            eprintln!(
                "skipping: MiniLM weights not found in {}",
                model_dir.display()
            );
            return;
        }
        let (_, config, _) = MiniLm::read_dir(&model_dir).unwrap();
        let files = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let linear = files.path().join("linear.safetensors");
        Adapter::identity(384)
            .unwrap()
            .save(&linear, &Default::default())
            .unwrap();
        let tuned = files.path().join("tuned.safetensors");
        let layers = TunedLayers::untrained(&config, 1, 2).unwrap();
        layers.save(&tuned, &Default::default()).unwrap();
        let mut cfg = RetrievalConfig {
            cache_dir: cache.path().to_path_buf(),
            shipped_adapter: None,
            shipped_tuned: None,
            ..Default::default()
        };
        let kind = |cfg: &RetrievalConfig| QueryEncoder::find(cfg, 384).unwrap().kind();
        assert_eq!(kind(&cfg), "base");
        cfg.shipped_adapter = Some(linear.clone());
        assert_eq!(kind(&cfg), "linear adapter");
        cfg.shipped_tuned = Some(tuned.clone());
        assert_eq!(kind(&cfg), "tuned layers");
        // The user's own linear adapter beats anything shipped ...
        std::fs::copy(&linear, crate::adapter::adapter_path(cache.path())).unwrap();
        assert_eq!(kind(&cfg), "linear adapter");
        // ... and their own tuned layers beat that.
        std::fs::copy(&tuned, crate::tuned::tuned_path(cache.path())).unwrap();
        assert_eq!(kind(&cfg), "tuned layers");
        cfg.use_adapter = false;
        assert_eq!(kind(&cfg), "base");
        // Layers trained for another shape of model: the error names the file.
        let mut narrow = config.clone();
        narrow.hidden_size = 32;
        narrow.intermediate_size = 64;
        let wrong = files.path().join("narrow.safetensors");
        TunedLayers::untrained(&narrow, 1, 2)
            .unwrap()
            .save(&wrong, &Default::default())
            .unwrap();
        let other = RetrievalConfig {
            cache_dir: files.path().join("empty-cache"),
            shipped_tuned: Some(wrong),
            use_adapter: true,
            ..cfg.clone()
        };
        let err = format!("{:#}", QueryEncoder::find(&other, 384).err().unwrap());
        assert!(
            err.contains("narrow.safetensors") && err.contains("do not fit"),
            "{err}"
        );
        // A damaged cached file is an error that says what to do, not a silent fallback.
        cfg.use_adapter = true;
        std::fs::write(crate::tuned::tuned_path(cache.path()), b"junk").unwrap();
        let err = format!("{:#}", QueryEncoder::find(&cfg, 384).err().unwrap());
        assert!(
            err.contains("tuned-minilm.safetensors") && err.contains("retrain"),
            "{err}"
        );
    }
}
