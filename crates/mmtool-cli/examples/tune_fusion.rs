//! Chooses the mllm backend's retrieval scoring, shortlist size and fusion
//! weight on training items that the adapter never trained on, with the
//! retrieval index rebuilt without them (so its centroids have not seen them
//! either). Never the test set.
//!
//! `cargo run --release -p mmtool-cli --example tune_fusion -- configs/stage3.toml adapters/default 300 20`
//! (config the adapter was trained with, adapter dir, dev items, widest shortlist).
//!
//! The adapter's training items are each tool's first `max_per_tool` items
//! in the config's seeded order (`skip_per_tool` is ignored here: earlier
//! stages trained on the skipped ones). The shipped retrieval query adapter
//! was trained on 8 instructions per tool of the whole training set; it is
//! kept, so a few dev items may have shaped it (say so with the figures).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, resolve_data_dir, Item, LoadOptions};
use mmtool_llm::backend::{fuse, MllmOptions, MllmRecommender};
use mmtool_llm::train::{split_items, TrainConfig};
use mmtool_recommend::{Query, Scored};
use mmtool_retrieval::recommender::{shortlist, Scoring};
use mmtool_retrieval::{RetrievalConfig, RetrievalRecommender};
use rand::seq::SliceRandom;
use rand::SeedableRng;

const TRAINING_FILES: [&str; 3] = ["train_synth.json", "train_audio.json", "train_video.json"];
const USAGE: &str = "usage: tune_fusion CONFIG ADAPTER [N] [MAX_SHORTLIST]";

/// One dev item: its answer, the two full retrieval rankings, and the
/// MLLM's calibrated score of every id in either widest shortlist.
struct Row {
    gold: String,
    rankings: [Vec<Scored>; 2],
    mllm: HashMap<String, f32>,
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let config = PathBuf::from(args.get(1).context(USAGE)?);
    let adapter = PathBuf::from(args.get(2).context(USAGE)?);
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(300);
    let widest: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(20);

    let data = resolve_data_dir(None)?;
    let catalog = Arc::new(Catalog::load_dir(&data)?);
    let mut cfg = TrainConfig::load(&config)?;
    cfg.skip_per_tool = 0;
    let mut training = Vec::new();
    for f in TRAINING_FILES {
        training.extend(load_items(
            &data.join(f),
            LoadOptions { unique_ids: false },
        )?);
    }
    let (adapter_train, _, _) = split_items(training.clone(), &catalog, &cfg);
    let seen: HashSet<&str> = adapter_train
        .iter()
        .map(|i| i.instruction.as_str())
        .collect();
    let mut pool: Vec<&Item> = training
        .iter()
        .filter(|i| catalog.contains(&i.answers[0]) && !seen.contains(i.instruction.as_str()))
        .collect();
    println!(
        "{} training items the adapter never trained on; using {n}",
        pool.len()
    );
    pool.shuffle(&mut rand::rngs::StdRng::seed_from_u64(99));
    pool.truncate(n);
    let dev: HashSet<&str> = pool.iter().map(|i| i.instruction.as_str()).collect();
    let rest: Vec<Item> = training
        .iter()
        .filter(|i| !dev.contains(i.instruction.as_str()))
        .cloned()
        .collect();

    let rcfg = RetrievalConfig {
        shipped_index_dir: None,
        ..RetrievalConfig::default()
    };
    let retrieval = RetrievalRecommender::open(catalog.clone(), &rest, &rcfg)?;
    let scorings = [
        (
            "dense",
            Scoring::dense(retrieval.scoring().mismatch_penalty),
        ),
        ("hybrid", *retrieval.scoring()),
    ];
    let mllm = MllmRecommender::build(
        catalog.clone(),
        &MllmOptions {
            adapter: Some(adapter),
            ..MllmOptions::default()
        },
    )?
    .with_calibration(true);
    let bar = ProgressBar::new(pool.len() as u64).with_style(ProgressStyle::with_template(
        "{bar:40} {pos}/{len} {per_sec} eta {eta}",
    )?);
    let mut rows = Vec::new();
    for it in &pool {
        let q = Query {
            instruction: it.instruction.clone(),
            modality: it.modality,
            media: None,
            media_features: None,
            media_hint: None,
            shortlist_hint: None,
        };
        // One embedding, ranked both ways.
        let e = retrieval.embed_queries(&[q.ranking_text().as_ref()])?;
        let rankings = scorings
            .each_ref()
            .map(|(_, s)| retrieval.rank_by(&e, &q, catalog.len(), s));
        let mut ids: Vec<String> = Vec::new();
        for r in &rankings {
            for s in shortlist(r.clone(), widest) {
                if !ids.contains(&s.id) {
                    ids.push(s.id);
                }
            }
        }
        let mllm = mllm.score_ids(&q, None, &ids)?.into_iter().collect();
        rows.push(Row {
            gold: it.answers[0].clone(),
            rankings,
            mllm,
        });
        bar.inc(1);
    }
    bar.finish();

    let weights = [0.0f32, 2., 5., 10., 20., 50., 100., 200., 500.];
    for (k, (name, _)) in scorings.iter().enumerate() {
        println!(
            "\nretrieval scoring: {name} (fused top-1 accuracy; w = weight of the retrieval score)"
        );
        print!("{:>9}", "shortlist");
        for w in weights {
            print!(" {:>7}", format!("w={w}"));
        }
        println!(" {:>9} {:>9}", "retrieval", "recall");
        for size in [3usize, 5, 10, 20].into_iter().filter(|&s| s <= widest) {
            print!("{size:>9}");
            for w in weights {
                let ok = rows
                    .iter()
                    .filter(|r| {
                        let list = shortlist(r.rankings[k].clone(), size);
                        let prior: HashMap<&str, f32> =
                            list.iter().map(|s| (s.id.as_str(), s.score)).collect();
                        let sub: Vec<(String, f32)> = list
                            .iter()
                            .filter_map(|s| r.mllm.get(&s.id).map(|&lp| (s.id.clone(), lp)))
                            .collect();
                        fuse(&sub, &prior, w).first().map(|s| &s.id) == Some(&r.gold)
                    })
                    .count();
                print!(" {:>6.1}%", 100. * ok as f64 / rows.len() as f64);
            }
            let r1 = rows
                .iter()
                .filter(|r| r.rankings[k].first().map(|s| &s.id) == Some(&r.gold))
                .count();
            let recall = rows
                .iter()
                .filter(|r| {
                    shortlist(r.rankings[k].clone(), size)
                        .iter()
                        .any(|s| s.id == r.gold)
                })
                .count();
            println!(
                " {:>8.1}% {:>8.1}%",
                100. * r1 as f64 / rows.len() as f64,
                100. * recall as f64 / rows.len() as f64
            );
        }
    }
    Ok(())
}
