//! Where a retrieval query's time goes: tokenise + MiniLM forward, BM25,
//! and the scan, each timed over the same requests (p50, ms).
//!
//! cargo run --release -p mmtool-retrieval --example query_cost -- FILE [N]
//!
//! The embedding is timed twice per request, in alternating order: with the
//! thread count fixed (`mmtool_data::fix_thread_count`, what every mmtool
//! binary does) and with it unset (candle's default: it then reads
//! /proc/cpuinfo on every matrix product). candle reads the variable per
//! product, so both run in one process, on the same requests.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, resolve_data_dir, LoadOptions};
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::Query;
use mmtool_retrieval::minilm::{default_model_dir, MiniLm};
use mmtool_retrieval::search::top_n;

fn p50(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let file = PathBuf::from(a.get(1).expect("FILE"));
    let n: usize = a.get(2).map_or(Ok(200), |v| v.parse())?;
    let data = resolve_data_dir(None)?;
    let catalog = Arc::new(Catalog::load(&data.join("catalog.jsonl"))?);
    let items = load_items(&file, LoadOptions::default())?;
    let items = &items[..n.min(items.len())];
    let model = MiniLm::load(&default_model_dir())?;
    let bm = Bm25Recommender::build(catalog.clone(), &[], Bm25Config::default());
    let matrix = vec![0.01f32; catalog.len() * model.dim()];
    model.embed(&["warm up"])?;
    let fixed = mmtool_data::fix_thread_count().to_string();
    let (mut emb, mut emb_default, mut lex, mut scan) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, it) in items.iter().enumerate() {
        let mut q = Vec::new();
        for pass in 0..2 {
            let default = (i + pass) % 2 == 1;
            if default {
                std::env::remove_var(mmtool_data::runtime::THREADS_ENV);
            } else {
                std::env::set_var(mmtool_data::runtime::THREADS_ENV, &fixed);
            }
            let t = Instant::now();
            q = model.embed(&[it.instruction.as_str()])?;
            let ms = t.elapsed().as_secs_f64() * 1e3;
            if default {
                emb_default.push(ms);
            } else {
                emb.push(ms);
            }
        }
        let t = Instant::now();
        std::hint::black_box(bm.scores(&Query::from_item(it)));
        lex.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(top_n(&matrix, model.dim(), &q, 50, &|_| 0.0));
        scan.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (e, d) = (p50(emb), p50(emb_default));
    println!(
        "{} requests: embed p50 {e:.2} ms ({fixed} threads fixed) vs {d:.2} ms (candle default), ratio {:.2}; bm25 p50 {:.3} ms, scan p50 {:.3} ms",
        items.len(),
        d / e,
        p50(lex),
        p50(scan)
    );
    Ok(())
}
