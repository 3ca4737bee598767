//! Predictions with the mllm backend in `mmtool predict`'s format, without
//! building the CLI.
//!
//! `cargo run -p mmtool-llm --example predict -- DATA_DIR ITEMS.json ADAPTER_DIR OUT.json K [--unconstrained]`

use std::sync::Arc;
use std::time::Instant;

use mmtool_catalog::Catalog;
use mmtool_data::{load_items, LoadOptions};
use mmtool_llm::backend::{MllmOptions, MllmRecommender};
use mmtool_recommend::{Query, Recommender};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 6 {
        anyhow::bail!(
            "usage: predict DATA_DIR ITEMS.json ADAPTER_DIR OUT.json K [--unconstrained]"
        );
    }
    let catalog = Arc::new(Catalog::load_dir(std::path::Path::new(&a[1]))?);
    let items = load_items(std::path::Path::new(&a[2]), LoadOptions::default())?;
    let opts = MllmOptions {
        adapter: Some(a[3].clone().into()),
        backbone: None,
        unconstrained: a.iter().any(|x| x == "--unconstrained"),
    };
    let rec = MllmRecommender::build(catalog, &opts)?;
    let k: usize = a[5].parse()?;
    let mut out = Vec::new();
    let mut times = Vec::new();
    for it in &items {
        let t = Instant::now();
        let r = rec.recommend(&Query::from_item(it), k)?;
        times.push(t.elapsed().as_secs_f64());
        out.push(serde_json::json!({
            "question_id": it.id, "questions": it.instruction, "response": r.response_text(),
            "ranked": r.ranked.iter().map(|s| serde_json::json!({"api_name": s.id, "score": s.score})).collect::<Vec<_>>(),
        }));
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    eprintln!(
        "{} items, latency p50 {:.3}s p95 {:.3}s",
        times.len(),
        pct(0.5),
        pct(0.95)
    );
    mmtool_llm::checkpoint::write_atomic(
        std::path::Path::new(&a[4]),
        &serde_json::to_vec_pretty(&out)?,
    )?;
    Ok(())
}
