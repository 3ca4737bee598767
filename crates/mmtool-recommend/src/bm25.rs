//! BM25 baseline: one document per tool (its card text plus the training
//! instructions that name it), ranked with the `bm25` crate, with a penalty
//! for tools whose input modality differs from the query's.

use std::sync::Arc;

use bm25::{Embedder, EmbedderBuilder, Language, Scorer};
use mmtool_catalog::{Catalog, UNKNOWN_ID};
use mmtool_data::{Item, Modality};

use crate::{Query, Recommendation, Recommender, Scored};

/// Tuning knobs for [`Bm25Recommender`].
#[derive(Debug, Clone, Copy)]
pub struct Bm25Config {
    pub k1: f32,
    pub b: f32,
    /// Score multiplier for tools whose `input_modality` differs from the
    /// query's (1.0 = no modality prior, 0.0 = hard filter).
    pub mismatch_weight: f32,
}

impl Default for Bm25Config {
    fn default() -> Self {
        Bm25Config {
            k1: 1.2,
            b: 0.75,
            mismatch_weight: 0.3,
        }
    }
}

pub struct Bm25Recommender {
    catalog: Arc<Catalog>,
    embedder: Embedder,
    scorer: Scorer<usize>,
    cfg: Bm25Config,
}

impl Bm25Recommender {
    /// Indexes every catalog card together with the training instructions
    /// whose answer is that tool. Answers not in the catalog are skipped.
    pub fn build(catalog: Arc<Catalog>, training: &[Item], cfg: Bm25Config) -> Self {
        let mut docs: Vec<String> = catalog.cards().iter().map(|c| c.search_text()).collect();
        for item in training {
            for a in &item.answers {
                if let Some(pos) = catalog.position(a) {
                    docs[pos].push('\n');
                    docs[pos].push_str(&item.instruction);
                }
            }
        }
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let embedder: Embedder = EmbedderBuilder::with_fit_to_corpus(Language::English, &refs)
            .k1(cfg.k1)
            .b(cfg.b)
            .build();
        let mut scorer = Scorer::new();
        for (i, d) in docs.iter().enumerate() {
            scorer.upsert(&i, embedder.embed(d));
        }
        Bm25Recommender {
            catalog,
            embedder,
            scorer,
            cfg,
        }
    }

    /// (catalog position, modality-weighted BM25 score) of every tool that
    /// shares a term with the request, in no particular order.
    pub fn scores(&self, query: &Query) -> Vec<(usize, f32)> {
        let q = self.embedder.embed(&query.ranking_text());
        let cards = self.catalog.cards();
        self.scorer
            .matches(&q)
            .into_iter()
            .map(|m| {
                (
                    m.id,
                    m.score * self.weight(cards[m.id].input_modality, query.modality),
                )
            })
            .collect()
    }

    fn weight(&self, tool: Modality, query: Modality) -> f32 {
        if tool == query {
            1.0
        } else {
            self.cfg.mismatch_weight
        }
    }
}

impl Recommender for Bm25Recommender {
    fn name(&self) -> &str {
        "bm25"
    }

    fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    fn recommend(&self, query: &Query, k: usize) -> anyhow::Result<Recommendation> {
        let cards = self.catalog.cards();
        let mut ranked: Vec<Scored> = self
            .scores(query)
            .into_iter()
            .map(|(pos, score)| Scored {
                id: cards[pos].id.clone(),
                score,
            })
            .collect();
        // Ties (and the crate's hash-ordered candidates) are broken by catalog
        // order so that results are reproducible.
        ranked.sort_by(|a, b| {
            b.score.total_cmp(&a.score).then_with(|| {
                self.catalog
                    .position(&a.id)
                    .cmp(&self.catalog.position(&b.id))
            })
        });
        ranked.truncate(k.max(1));
        if ranked.is_empty() && self.catalog.contains(UNKNOWN_ID) {
            // Nothing shares a word with the request: "no tool fits".
            ranked.push(Scored {
                id: UNKNOWN_ID.into(),
                score: 0.0,
            });
        }
        Ok(Recommendation {
            ranked,
            raw: None,
            findings: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmtool_catalog::ToolCard;

    fn card(id: &str, task: &str, m: Modality, summary: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: task.into(),
            domain: "d".into(),
            input_modality: m,
            output_modality: "text".into(),
            languages: vec![],
            summary: summary.into(),
            tags: vec![],
            api_call: "x".into(),
            confidence: "high".into(),
        }
    }

    fn catalog() -> Arc<Catalog> {
        Arc::new(
            Catalog::from_cards(vec![
                card(
                    "org/translator",
                    "translation",
                    Modality::Text,
                    "Translates English text into French.",
                ),
                card(
                    "org/asr",
                    "automatic-speech-recognition",
                    Modality::Audio,
                    "Transcribes speech recordings.",
                ),
                card(
                    "org/upscaler",
                    "image-to-image",
                    Modality::Image,
                    "Makes blurry photos sharper (super-resolution).",
                ),
                card(UNKNOWN_ID, "other", Modality::Text, "No model fits."),
            ])
            .unwrap(),
        )
    }

    fn item(instr: &str, answer: &str) -> Item {
        Item {
            id: 0,
            source_id: None,
            instruction: instr.into(),
            modality: Modality::Text,
            media_path: None,
            media_description: None,
            answers: vec![answer.into()],
            ambiguity: -1,
            one_to_many: false,
        }
    }

    #[test]
    fn ranks_by_card_text_and_training_instructions() {
        let training = vec![item("Book me a table at the pizzeria tonight", UNKNOWN_ID)];
        let r = Bm25Recommender::build(catalog(), &training, Bm25Config::default());
        let top = |q: &Query| r.recommend(q, 3).unwrap().ranked[0].id.clone();
        assert_eq!(
            top(&Query::text("translate this into French please")),
            "org/translator"
        );
        assert_eq!(top(&Query::text("book a table at a pizzeria")), UNKNOWN_ID);
        let mut q = Query::text("make it sharper");
        q.modality = Modality::Image;
        assert_eq!(top(&q), "org/upscaler");
    }

    #[test]
    fn modality_prior_reorders_and_k_truncates() {
        // Both cards mention "speech"; the audio query should prefer the audio tool.
        let cat = Arc::new(
            Catalog::from_cards(vec![
                card(
                    "a/tts",
                    "text-to-speech",
                    Modality::Text,
                    "Speech synthesis: speech from text speech.",
                ),
                card(
                    "a/asr",
                    "automatic-speech-recognition",
                    Modality::Audio,
                    "Speech recognition.",
                ),
            ])
            .unwrap(),
        );
        let r = Bm25Recommender::build(cat, &[], Bm25Config::default());
        let mut q = Query::text("speech");
        assert_eq!(r.recommend(&q, 5).unwrap().ranked[0].id, "a/tts");
        q.modality = Modality::Audio;
        let rec = r.recommend(&q, 1).unwrap();
        assert_eq!(rec.ranked.len(), 1);
        assert_eq!(rec.ranked[0].id, "a/asr");
        assert_eq!(rec.response_text(), "{'api_name': a/asr}");
    }

    #[test]
    fn no_overlap_answers_unknown() {
        let r = Bm25Recommender::build(catalog(), &[], Bm25Config::default());
        let rec = r.recommend(&Query::text("zzzz qqqq"), 5).unwrap();
        assert_eq!(
            rec.ranked,
            vec![Scored {
                id: UNKNOWN_ID.into(),
                score: 0.0
            }]
        );
    }
}
