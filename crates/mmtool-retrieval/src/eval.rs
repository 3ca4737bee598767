//! Measuring retrieval: recall@k and accuracy over ranked lists, the dev
//! split carved from training data (for tuning), and the held-out tool set
//! of the unseen-tools experiment.

use mmtool_data::Item;

use serde::Serialize;

use crate::store::fnv1a;

/// Share of hits among `n` items, per cut-off.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n: usize,
    /// (k, share of items with a right answer in the top k).
    pub recall: Vec<(usize, f64)>,
}

impl Metrics {
    /// `ranked[i]` is the ranked tool list for an item whose right answers are `gold[i]`.
    pub fn compute(ranked: &[Vec<String>], gold: &[&[String]], ks: &[usize]) -> Self {
        assert_eq!(ranked.len(), gold.len());
        let recall = ks
            .iter()
            .map(|&k| {
                let hits = ranked
                    .iter()
                    .zip(gold)
                    .filter(|(r, g)| r.iter().take(k).any(|id| g.contains(id)))
                    .count();
                (
                    k,
                    if ranked.is_empty() {
                        0.0
                    } else {
                        hits as f64 / ranked.len() as f64
                    },
                )
            })
            .collect();
        Metrics {
            n: ranked.len(),
            recall,
        }
    }

    pub fn at(&self, k: usize) -> Option<f64> {
        self.recall.iter().find(|(kk, _)| *kk == k).map(|(_, v)| *v)
    }

    /// `n=1903 R@1 41.2% R@10 ...`
    pub fn line(&self) -> String {
        let parts: Vec<String> = self
            .recall
            .iter()
            .map(|(k, v)| format!("R@{k} {:.1}%", v * 100.0))
            .collect();
        format!("n={} {}", self.n, parts.join(" "))
    }
}

/// Splits training items into (train, dev): an item goes to dev when the
/// seeded hash of its instruction falls in the first `dev_share` of the
/// range, so the split is stable and independent of file order.
pub fn dev_split(items: &[Item], dev_share: f64, seed: u64) -> (Vec<Item>, Vec<Item>) {
    let cut = (dev_share.clamp(0.0, 1.0) * 10_000.0) as u64;
    items.iter().cloned().partition(|it| {
        let mut key = seed.to_le_bytes().to_vec();
        key.extend_from_slice(it.instruction.as_bytes());
        fnv1a(&key) % 10_000 >= cut
    })
}

pub use mmtool_catalog::holdout_tools;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::tests::{catalog, item};
    use mmtool_catalog::UNKNOWN_ID;

    #[test]
    fn recall_counts_any_right_answer_within_k() {
        let ranked = vec![
            vec!["a".to_string(), "b".into(), "c".into()],
            vec!["x".to_string(), "y".into(), "a".into()],
        ];
        let g1 = vec!["b".to_string(), "z".into()];
        let g2 = vec!["q".to_string()];
        let m = Metrics::compute(&ranked, &[&g1, &g2], &[1, 2, 3]);
        assert_eq!(m.recall, vec![(1, 0.0), (2, 0.5), (3, 0.5)]);
        assert_eq!(m.at(2), Some(0.5));
        assert!(m.line().contains("R@2 50.0%"));
    }

    #[test]
    fn dev_split_is_stable_disjoint_and_roughly_sized() {
        let items: Vec<Item> = (0..2000)
            .map(|i| item(&format!("request number {i}"), "o/mt"))
            .collect();
        let (tr, dev) = dev_split(&items, 0.1, 3);
        assert_eq!(tr.len() + dev.len(), 2000);
        assert!((150..250).contains(&dev.len()), "{}", dev.len());
        let (_, dev2) = dev_split(&items, 0.1, 3);
        assert_eq!(dev, dev2);
        let (_, dev3) = dev_split(&items, 0.1, 4);
        assert_ne!(dev, dev3, "the seed changes the split");
    }

    #[test]
    fn holdout_is_seeded_and_skips_unknown() {
        let mut cat = catalog();
        cat.add(crate::index::tests::card(
            UNKNOWN_ID,
            mmtool_data::Modality::Text,
            "none",
        ))
        .unwrap();
        let h = holdout_tools(&cat, 0.67, 1);
        assert_eq!(h.len(), 2);
        assert!(!h.contains(UNKNOWN_ID));
        assert_eq!(h, holdout_tools(&cat, 0.67, 1));
    }
}
