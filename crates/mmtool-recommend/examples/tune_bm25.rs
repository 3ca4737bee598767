//! How the BM25 defaults were chosen: a grid search on a dev split carved
//! from the TRAINING files (every 10th item held out), never the test set.
//!
//!     cargo run --release -p mmtool-recommend --example tune_bm25 -- ../shared/toolmmbench

use std::path::PathBuf;
use std::sync::Arc;

use mmtool_catalog::Catalog;
use mmtool_data::{load_items, LoadOptions};
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::{Query, Recommender};

fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "../shared/toolmmbench".into()),
    );
    let catalog = Arc::new(Catalog::load_dir(&dir)?);
    let mut train = Vec::new();
    let mut dev = Vec::new();
    for f in ["train_synth.json", "train_audio.json", "train_video.json"] {
        for (i, it) in load_items(&dir.join(f), LoadOptions { unique_ids: false })?
            .into_iter()
            .enumerate()
        {
            if i % 10 == 0 {
                dev.push(it);
            } else {
                train.push(it);
            }
        }
    }
    println!("train {} dev {}", train.len(), dev.len());
    for k1 in [1.2f32, 2.0] {
        for b in [0.75f32, 0.9] {
            for mismatch_weight in [1.0f32, 0.3, 0.1] {
                let cfg = Bm25Config {
                    k1,
                    b,
                    mismatch_weight,
                };
                let r = Bm25Recommender::build(catalog.clone(), &train, cfg);
                let mut hit = 0;
                for it in &dev {
                    let rec = r.recommend(&Query::from_item(it), 1)?;
                    if it.answers.contains(&rec.ranked[0].id) {
                        hit += 1;
                    }
                }
                println!(
                    "k1={k1} b={b} mismatch={mismatch_weight}: dev acc {:.4}",
                    hit as f64 / dev.len() as f64
                );
            }
        }
    }
    Ok(())
}
