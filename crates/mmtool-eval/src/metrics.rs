//! Scoring predictions against gold items.

use std::collections::{BTreeMap, HashMap};

use mmtool_catalog::{Catalog, UNKNOWN_ID};
use mmtool_data::{Item, Modality};
use mmtool_recommend::parse_response;
use serde::Serialize;

use crate::{EvalError, Prediction};

/// Cut-offs reported as acc@k.
pub const KS: [usize; 4] = [1, 3, 5, 10];
/// How many ids of missing/extra predictions a report lists.
pub const FIRST_IDS: usize = 10;

/// Raw counts for a set of gold items; rates are derived from these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Tally {
    n: usize,
    predicted: usize,
    parsed: usize,
    hallucinated: usize,
    correct: usize,
    hits_at_k: [usize; KS.len()],
}

impl Tally {
    fn add(&mut self, o: &Outcome) {
        self.n += 1;
        self.predicted += o.predicted as usize;
        self.parsed += o.parsed as usize;
        self.hallucinated += o.hallucinated as usize;
        self.correct += o.correct as usize;
        for (hits, &k) in self.hits_at_k.iter_mut().zip(&KS) {
            *hits += o.first_hit.is_some_and(|r| r < k) as usize;
        }
    }
}

/// Metrics over one set of gold items (all of them, or one breakdown bucket).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Gold items in the set: the denominator of `accuracy`,
    /// `format_accuracy` and `acc_at_k`.
    pub n: usize,
    /// Gold items that have a prediction.
    pub predicted: usize,
    /// Responses that parse to one api name (missing predictions do not).
    pub parsed: usize,
    /// Parsed names that are not catalog tools.
    pub hallucinated: usize,
    /// Parsed names in the item's answer set.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// `parsed / n`.
    pub format_accuracy: f64,
    /// `hallucinated / parsed`; `null` when nothing parsed.
    pub hallucination_rate: Option<f64>,
    /// Share of the `n` items with an answer-set tool among the first k
    /// ranked names, keyed by k.
    pub acc_at_k: BTreeMap<usize, f64>,
}

impl From<Tally> for Metrics {
    fn from(t: Tally) -> Self {
        let n = t.n.max(1) as f64;
        Metrics {
            n: t.n,
            predicted: t.predicted,
            parsed: t.parsed,
            hallucinated: t.hallucinated,
            correct: t.correct,
            accuracy: t.correct as f64 / n,
            format_accuracy: t.parsed as f64 / n,
            hallucination_rate: ratio(t.hallucinated, t.parsed),
            acc_at_k: KS
                .iter()
                .zip(t.hits_at_k)
                .map(|(&k, h)| (k, h as f64 / n))
                .collect(),
        }
    }
}

/// How well the predictions pick out the `unknown` ("no tool fits") items.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UnknownMetrics {
    /// Gold items whose answer set contains `unknown`.
    pub gold: usize,
    /// Gold items whose response parses to `unknown`.
    pub predicted: usize,
    /// Items in both sets.
    pub correct: usize,
    /// `correct / predicted`; `null` when nothing was answered `unknown`.
    pub precision: Option<f64>,
    /// `correct / gold`; `null` when no gold item is `unknown`.
    pub recall: Option<f64>,
}

/// Ids present on one side only.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdList {
    pub count: usize,
    /// The first few, in file order.
    pub first_ids: Vec<u64>,
}

impl IdList {
    fn new(ids: impl Iterator<Item = u64>) -> Self {
        let all: Vec<u64> = ids.collect();
        IdList {
            count: all.len(),
            first_ids: all.into_iter().take(FIRST_IDS).collect(),
        }
    }
}

/// The full evaluation. Serialises to the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Over all gold items: `n`, `accuracy`, `format_accuracy`,
    /// `hallucination_rate`, `acc_at_k` and their counts, at the top level.
    #[serde(flatten)]
    pub overall: Metrics,
    pub by_modality: BTreeMap<Modality, Metrics>,
    /// Keyed by ambiguity code (-1 none, 1 data domain, 2 label set,
    /// 3 image quality, 4 input condition, 5 other).
    pub by_ambiguity: BTreeMap<i32, Metrics>,
    /// `single` (one right tool) and `one_to_many` (several), by the item's
    /// `onetomulti` flag.
    pub by_answer_set: BTreeMap<&'static str, Metrics>,
    pub unknown: UnknownMetrics,
    /// Gold items without a prediction (scored as wrong).
    pub missing_predictions: IdList,
    /// Predictions whose id is not a gold item (not scored).
    pub extra_predictions: IdList,
    /// Predicted items without a `ranked` list, whose acc@k uses the parsed
    /// response as a one-name list.
    pub ranked_fallback: usize,
    /// What each metric divides by, for readers of the JSON.
    pub definitions: BTreeMap<&'static str, &'static str>,
}

/// What one gold item scored.
struct Outcome {
    predicted: bool,
    parsed: bool,
    hallucinated: bool,
    correct: bool,
    answered_unknown: bool,
    /// 0-based rank of the first answer-set tool in the ranked list.
    first_hit: Option<usize>,
    fallback: bool,
}

fn score(item: &Item, pred: Option<&Prediction>, catalog: &Catalog) -> Outcome {
    let Some(pred) = pred else {
        return Outcome {
            predicted: false,
            parsed: false,
            hallucinated: false,
            correct: false,
            answered_unknown: false,
            first_hit: None,
            fallback: false,
        };
    };
    let name = parse_response(&pred.response);
    let is_answer = |n: &str| item.answers.iter().any(|a| a == n.trim());
    let (first_hit, fallback) = match &pred.ranked {
        Some(list) => (list.iter().position(|r| is_answer(&r.api_name)), false),
        None => (name.as_deref().filter(|n| is_answer(n)).map(|_| 0), true),
    };
    Outcome {
        predicted: true,
        parsed: name.is_some(),
        hallucinated: name.as_deref().is_some_and(|n| !catalog.contains(n)),
        correct: name.as_deref().is_some_and(is_answer),
        answered_unknown: name.as_deref() == Some(UNKNOWN_ID),
        first_hit,
        fallback,
    }
}

/// Scores `preds` against `gold`. Predictions are matched to gold items by
/// id; gold items without one count as wrong, predictions for ids not in
/// `gold` are listed and otherwise ignored. Repeated ids on either side are
/// an error, never silently matched.
pub fn evaluate(
    gold: &[Item],
    preds: &[Prediction],
    catalog: &Catalog,
) -> Result<Report, EvalError> {
    if gold.is_empty() {
        return Err(EvalError::NoGold);
    }
    let mut gold_ids: HashMap<u64, usize> = HashMap::with_capacity(gold.len());
    for (i, it) in gold.iter().enumerate() {
        if let Some(first) = gold_ids.insert(it.id, i) {
            return Err(EvalError::DuplicateId {
                file: "gold".into(),
                id: it.id,
                first,
                second: i,
            });
        }
    }
    let mut by_id: HashMap<u64, &Prediction> = HashMap::with_capacity(preds.len());
    for (i, p) in preds.iter().enumerate() {
        if by_id.insert(p.question_id, p).is_some() {
            let first = preds
                .iter()
                .position(|q| q.question_id == p.question_id)
                .unwrap_or(0);
            return Err(EvalError::DuplicateId {
                file: "predictions".into(),
                id: p.question_id,
                first,
                second: i,
            });
        }
    }

    let mut overall = Tally::default();
    let mut by_modality: BTreeMap<Modality, Tally> = BTreeMap::new();
    let mut by_ambiguity: BTreeMap<i32, Tally> = BTreeMap::new();
    let mut by_answer_set: BTreeMap<&'static str, Tally> = BTreeMap::new();
    let (mut unk_gold, mut unk_pred, mut unk_correct) = (0, 0, 0);
    let mut ranked_fallback = 0;
    for item in gold {
        let o = score(item, by_id.get(&item.id).copied(), catalog);
        overall.add(&o);
        by_modality.entry(item.modality).or_default().add(&o);
        by_ambiguity.entry(item.ambiguity).or_default().add(&o);
        let set = if item.one_to_many {
            "one_to_many"
        } else {
            "single"
        };
        by_answer_set.entry(set).or_default().add(&o);
        let gold_unknown = item.answers.iter().any(|a| a == UNKNOWN_ID);
        unk_gold += gold_unknown as usize;
        unk_pred += o.answered_unknown as usize;
        unk_correct += (gold_unknown && o.answered_unknown) as usize;
        ranked_fallback += o.fallback as usize;
    }

    Ok(Report {
        overall: overall.into(),
        by_modality: metrics(by_modality),
        by_ambiguity: metrics(by_ambiguity),
        by_answer_set: metrics(by_answer_set),
        unknown: UnknownMetrics {
            gold: unk_gold,
            predicted: unk_pred,
            correct: unk_correct,
            precision: ratio(unk_correct, unk_pred),
            recall: ratio(unk_correct, unk_gold),
        },
        missing_predictions: IdList::new(
            gold.iter()
                .map(|it| it.id)
                .filter(|id| !by_id.contains_key(id)),
        ),
        extra_predictions: IdList::new(
            preds
                .iter()
                .map(|p| p.question_id)
                .filter(|id| !gold_ids.contains_key(id)),
        ),
        ranked_fallback,
        definitions: definitions(),
    })
}

fn metrics<K: Ord>(m: BTreeMap<K, Tally>) -> BTreeMap<K, Metrics> {
    m.into_iter().map(|(k, t)| (k, Metrics::from(t))).collect()
}

fn ratio(num: usize, den: usize) -> Option<f64> {
    (den > 0).then(|| num as f64 / den as f64)
}

fn definitions() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("n", "gold items; predictions for ids not in the gold file are not scored"),
        (
            "accuracy",
            "correct / n: the response parses to a name in the item's answer set; \
             unparseable or missing predictions are wrong",
        ),
        (
            "format_accuracy",
            "parsed / n: the response parses to one api name; missing predictions do not",
        ),
        (
            "hallucination_rate",
            "hallucinated / parsed: parsed names that are not catalog tools, over responses that parsed",
        ),
        (
            "acc_at_k",
            "share of the n items with an answer-set tool among the first k names of `ranked`; \
             without `ranked`, the parsed response is a one-name list",
        ),
        (
            "unknown",
            "precision = correct / predicted, recall = correct / gold, where gold items have \
             `unknown` in their answer set and predicted ones answer `unknown`",
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RankedName;
    use mmtool_catalog::ToolCard;

    fn card(id: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: "translation".into(),
            domain: "NLP".into(),
            input_modality: Modality::Text,
            output_modality: "text".into(),
            languages: vec![],
            summary: "s".into(),
            tags: vec![],
            api_call: "c".into(),
            confidence: "high".into(),
        }
    }

    fn catalog() -> Catalog {
        Catalog::from_cards(["a", "b", "c", "d", "unknown"].map(card).to_vec()).unwrap()
    }

    fn item(id: u64, modality: Modality, answers: &[&str], ambiguity: i32) -> Item {
        Item {
            id,
            source_id: None,
            instruction: format!("q{id}"),
            modality,
            media_path: None,
            media_description: None,
            answers: answers.iter().map(|s| s.to_string()).collect(),
            ambiguity,
            one_to_many: answers.len() > 1,
        }
    }

    fn pred(id: u64, response: &str, ranked: Option<&[&str]>) -> Prediction {
        Prediction {
            question_id: id,
            questions: String::new(),
            response: response.into(),
            ranked: ranked.map(|r| {
                r.iter()
                    .map(|n| RankedName {
                        api_name: n.to_string(),
                        score: None,
                    })
                    .collect()
            }),
        }
    }

    /// Four gold items: 1 text {a}, 2 image {b,c} ambiguity 4, 3 audio {unknown}, 4 text {d}.
    fn gold() -> Vec<Item> {
        vec![
            item(1, Modality::Text, &["a"], -1),
            item(2, Modality::Image, &["b", "c"], 4),
            item(3, Modality::Audio, &["unknown"], -1),
            item(4, Modality::Text, &["d"], -1),
        ]
    }

    #[test]
    fn perfect_predictions_score_one_everywhere() {
        let preds = vec![
            pred(1, "{'api_name': a}", None),
            pred(2, "{'api_name': 'c'}\n###", None),
            pred(3, "{'api_name': unknown}", None),
            pred(4, "{\"api_name\": \"d\"}", None),
        ];
        let r = evaluate(&gold(), &preds, &catalog()).unwrap();
        assert_eq!(r.overall.n, 4);
        assert_eq!(r.overall.accuracy, 1.0);
        assert_eq!(r.overall.format_accuracy, 1.0);
        assert_eq!(r.overall.hallucination_rate, Some(0.0));
        assert!(r.overall.acc_at_k.values().all(|&v| v == 1.0));
        assert_eq!(r.ranked_fallback, 4);
        assert_eq!(r.unknown.precision, Some(1.0));
        assert_eq!(r.unknown.recall, Some(1.0));
        assert_eq!(r.missing_predictions.count, 0);
        assert_eq!(r.extra_predictions.count, 0);
    }

    #[test]
    fn mixed_predictions_match_hand_computed_figures() {
        // 1: wrong catalog name (b); ranked [b, a] -> hit at rank 2.
        // 2: unparseable; ranked [d, d, x, y, c] -> hit at rank 5.
        // 3: hallucinated name "zzz"; no ranked -> fallback, miss.
        // 4: answers "unknown" (wrong: gold is d); ranked has d at rank 11 -> miss at 10.
        let preds = vec![
            pred(1, "{'api_name': b}", Some(&["b", "a"])),
            pred(2, "I think c", Some(&["d", "d", "x", "y", "c"])),
            pred(3, "{'api_name': zzz}", None),
            pred(
                4,
                "{'api_name': unknown}",
                Some(&["a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "d"]),
            ),
        ];
        let r = evaluate(&gold(), &preds, &catalog()).unwrap();
        let o = &r.overall;
        assert_eq!(
            (o.n, o.predicted, o.parsed, o.hallucinated, o.correct),
            (4, 4, 3, 1, 0)
        );
        assert_eq!(o.accuracy, 0.0);
        assert_eq!(o.format_accuracy, 0.75);
        assert_eq!(o.hallucination_rate, Some(1.0 / 3.0));
        assert_eq!(o.acc_at_k[&1], 0.0);
        assert_eq!(o.acc_at_k[&3], 0.25);
        assert_eq!(o.acc_at_k[&5], 0.5);
        assert_eq!(o.acc_at_k[&10], 0.5);
        assert_eq!(r.ranked_fallback, 1);
        // unknown: gold {3}, predicted {4}: precision 0/1, recall 0/1.
        assert_eq!(
            r.unknown,
            UnknownMetrics {
                gold: 1,
                predicted: 1,
                correct: 0,
                precision: Some(0.0),
                recall: Some(0.0)
            }
        );
        // Breakdowns: text = items 1, 4; image = 2; audio = 3.
        let text = &r.by_modality[&Modality::Text];
        assert_eq!((text.n, text.parsed, text.hallucinated), (2, 2, 0));
        assert_eq!(text.acc_at_k[&3], 0.5);
        let image = &r.by_modality[&Modality::Image];
        assert_eq!((image.n, image.parsed, image.format_accuracy), (1, 0, 0.0));
        assert_eq!(image.hallucination_rate, None);
        assert_eq!(image.acc_at_k[&5], 1.0);
        assert_eq!(
            r.by_modality[&Modality::Audio].hallucination_rate,
            Some(1.0)
        );
        assert!(!r.by_modality.contains_key(&Modality::Video));
        assert_eq!(r.by_ambiguity[&4].n, 1);
        assert_eq!(r.by_ambiguity[&-1].n, 3);
        assert_eq!(r.by_answer_set["one_to_many"].n, 1);
        assert_eq!(r.by_answer_set["single"].n, 3);
        assert_eq!(r.by_answer_set["single"].hallucinated, 1);
    }

    #[test]
    fn any_answer_of_a_one_to_many_item_counts() {
        let preds = vec![pred(2, "{'api_name': b}", None)];
        let r = evaluate(&gold()[1..2], &preds, &catalog()).unwrap();
        assert_eq!(r.overall.accuracy, 1.0);
    }

    #[test]
    fn partial_and_extra_predictions_are_reported_and_missing_count_wrong() {
        let preds = vec![
            pred(99, "{'api_name': a}", None),
            pred(1, "{'api_name': a}", None),
            pred(98, "{'api_name': a}", None),
        ];
        let r = evaluate(&gold(), &preds, &catalog()).unwrap();
        assert_eq!(r.overall.n, 4);
        assert_eq!(r.overall.predicted, 1);
        assert_eq!(r.overall.accuracy, 0.25);
        assert_eq!(r.overall.format_accuracy, 0.25);
        assert_eq!(r.overall.hallucination_rate, Some(0.0));
        assert_eq!(
            r.missing_predictions,
            IdList {
                count: 3,
                first_ids: vec![2, 3, 4]
            }
        );
        assert_eq!(
            r.extra_predictions,
            IdList {
                count: 2,
                first_ids: vec![99, 98]
            }
        );
        assert_eq!(r.unknown.recall, Some(0.0));
        assert_eq!(r.unknown.precision, None);
    }

    #[test]
    fn first_ids_are_capped() {
        let gold: Vec<Item> = (1..=25)
            .map(|i| item(i, Modality::Text, &["a"], -1))
            .collect();
        let r = evaluate(&gold, &[], &catalog()).unwrap();
        assert_eq!(r.missing_predictions.count, 25);
        assert_eq!(
            r.missing_predictions.first_ids,
            (1..=10).collect::<Vec<_>>()
        );
        assert_eq!(r.overall.accuracy, 0.0);
        assert_eq!(r.overall.hallucination_rate, None);
    }

    #[test]
    fn repeated_ids_and_empty_gold_are_errors() {
        let mut g = gold();
        g[3].id = 1;
        let msg = evaluate(&g, &[], &catalog()).unwrap_err().to_string();
        assert!(msg.contains("gold") && msg.contains("id 1"), "{msg}");
        let preds = vec![pred(1, "a", None), pred(2, "b", None), pred(1, "c", None)];
        let msg = evaluate(&gold(), &preds, &catalog())
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("predictions") && msg.contains("#0") && msg.contains("#2"),
            "{msg}"
        );
        assert!(matches!(
            evaluate(&[], &[], &catalog()),
            Err(EvalError::NoGold)
        ));
    }

    #[test]
    fn json_has_the_documented_top_level_keys() {
        let r = evaluate(&gold(), &[pred(1, "{'api_name': a}", None)], &catalog()).unwrap();
        let v = serde_json::to_value(&r).unwrap();
        for key in [
            "accuracy",
            "hallucination_rate",
            "format_accuracy",
            "acc_at_k",
            "by_modality",
            "by_ambiguity",
            "n",
            "parsed",
            "hallucinated",
            "by_answer_set",
            "unknown",
            "missing_predictions",
            "extra_predictions",
            "definitions",
        ] {
            assert!(v.get(key).is_some(), "missing {key} in {v}");
        }
        assert_eq!(v["acc_at_k"]["1"], 0.25);
        assert_eq!(v["by_modality"]["text"]["n"], 2);
        assert_eq!(v["by_ambiguity"]["-1"]["n"], 3);
        assert_eq!(
            v["missing_predictions"]["first_ids"],
            serde_json::json!([2, 3, 4])
        );
    }
}
