//! Chooses the mllm backend's shortlist size and fusion weight on training
//! items that neither the adapter nor the retrieval centroids were built
//! from. Never the test set.
//!
//! `cargo run -p mmtool-cli --example tune_fusion -- configs/default.toml adapters/default 200 30`
//! (config the adapter was trained with, adapter dir, dev items, widest shortlist).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, resolve_data_dir, LoadOptions};
use mmtool_llm::backend::{fuse, MllmOptions, MllmRecommender};
use mmtool_llm::train::{split_items, TrainConfig};
use mmtool_recommend::Query;
use mmtool_retrieval::index::instructions_per_tool;
use mmtool_retrieval::recommender::shortlist;
use mmtool_retrieval::{IndexConfig, RetrievalConfig, RetrievalRecommender};
use rand::seq::SliceRandom;
use rand::SeedableRng;

const TRAINING_FILES: [&str; 3] = ["train_synth.json", "train_audio.json", "train_video.json"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let config = PathBuf::from(
        args.get(1)
            .context("usage: tune_fusion CONFIG ADAPTER [N] [MAX_SHORTLIST]")?,
    );
    let adapter = PathBuf::from(
        args.get(2)
            .context("usage: tune_fusion CONFIG ADAPTER [N] [MAX_SHORTLIST]")?,
    );
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let widest: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(30);

    let data = resolve_data_dir(None)?;
    let catalog = Arc::new(Catalog::load_dir(&data)?);
    let cfg = TrainConfig::load(&config)?;
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
    let centroids: HashSet<&str> =
        instructions_per_tool(&catalog, &training, IndexConfig::default().max_per_tool)
            .into_iter()
            .flatten()
            .collect();
    let mut pool: Vec<_> = training
        .iter()
        .filter(|i| {
            catalog.contains(&i.answers[0])
                && !seen.contains(i.instruction.as_str())
                && !centroids.contains(i.instruction.as_str())
        })
        .collect();
    println!(
        "{} training items unseen by the adapter and the centroids; using {n}",
        pool.len()
    );
    pool.shuffle(&mut rand::rngs::StdRng::seed_from_u64(99));
    pool.truncate(n);

    let retrieval =
        RetrievalRecommender::open(catalog.clone(), &training, &RetrievalConfig::default())?;
    let mllm = MllmRecommender::build(
        catalog.clone(),
        &MllmOptions {
            adapter: Some(adapter),
            ..MllmOptions::default()
        },
    )?;
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
        // The full ranking; every smaller shortlist is drawn from it.
        let full = retrieval.candidates(&q, catalog.len())?;
        let ids: Vec<String> = shortlist(full.clone(), widest)
            .into_iter()
            .map(|s| s.id)
            .collect();
        let scored = mllm.score_ids(&q, None, &ids)?;
        rows.push((it.answers[0].clone(), full, scored));
        bar.inc(1);
    }
    bar.finish();

    let weights = [0.0f32, 1., 2., 5., 10., 20., 50., 100.];
    print!("{:>9}", "shortlist");
    for w in weights {
        print!(" {:>7}", format!("w={w}"));
    }
    println!(" {:>9} {:>9}", "retrieval", "recall");
    for size in [5usize, 10, 20, 30, 50]
        .into_iter()
        .filter(|&s| s <= widest)
    {
        print!("{size:>9}");
        for w in weights {
            let ok = rows
                .iter()
                .filter(|(gold, full, scored)| {
                    let list = shortlist(full.clone(), size);
                    let top: HashMap<&str, f32> =
                        list.iter().map(|s| (s.id.as_str(), s.score)).collect();
                    let sub: Vec<(String, f32)> = scored
                        .iter()
                        .filter(|(id, _)| top.contains_key(id.as_str()))
                        .cloned()
                        .collect();
                    fuse(&sub, &top, w).first().map(|s| &s.id) == Some(gold)
                })
                .count();
            print!(" {:>6.1}%", 100. * ok as f64 / rows.len() as f64);
        }
        let r1 = rows
            .iter()
            .filter(|(gold, prior, _)| prior.first().map(|s| &s.id) == Some(gold))
            .count();
        let recall = rows
            .iter()
            .filter(|(gold, full, _)| shortlist(full.clone(), size).iter().any(|s| &s.id == gold))
            .count();
        println!(
            " {:>8.1}% {:>8.1}%",
            100. * r1 as f64 / rows.len() as f64,
            100. * recall as f64 / rows.len() as f64
        );
    }
    Ok(())
}
