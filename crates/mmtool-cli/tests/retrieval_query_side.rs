//! Which query side the retrieval backend uses on a fresh cache, and how
//! `retrieval train --tune-layers` refuses settings the model cannot take.
//! Needs the real MiniLM weights (scripts/fetch-weights.sh); says SKIPPED otherwise.

mod common;

use std::path::{Path, PathBuf};

use common::{fails, succeeds, weights_present, Fixture};

/// A fresh cache (nothing trained, no index) that sees the fetched weights.
fn fresh_cache() -> tempfile::TempDir {
    let real = std::env::var_os("MMTOOL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var("HOME").unwrap()).join(".cache/mmtool"));
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(real.join("models"), dir.path().join("models")).unwrap();
    dir
}

fn eval_line(fx: &Fixture, cache: &Path, extra: &[&str]) -> String {
    succeeds(
        fx.cmd()
            .env("MMTOOL_CACHE", cache)
            .args(["retrieval", "eval", "--data"])
            .arg(fx.path("test.json"))
            .args(extra),
    )
}

#[test]
fn a_fresh_cache_uses_the_shipped_tuned_layers_and_no_adapter_the_plain_model() {
    if !weights_present(&["models/minilm/model.safetensors"]) {
        return;
    }
    let fx = Fixture::new();
    let cache = fresh_cache();
    let out = eval_line(&fx, cache.path(), &[]);
    assert!(out.contains("[tuned layers]"), "{out}");
    let out = eval_line(&fx, cache.path(), &["--no-adapter"]);
    assert!(out.contains("[base]"), "{out}");
}

#[test]
fn tune_layers_beyond_the_model_is_refused_before_any_work() {
    if !weights_present(&["models/minilm/model.safetensors"]) {
        return;
    }
    let fx = Fixture::new();
    let cache = fresh_cache();
    for (layers, rank) in [("7", "16"), ("2", "0")] {
        let mut cmd = fx.cmd();
        cmd.env("MMTOOL_CACHE", cache.path()).args([
            "retrieval",
            "train",
            "--tune-layers",
            layers,
            "--tune-rank",
            rank,
        ]);
        fails(&mut cmd, 2, &["cannot tune", "6 layers", "--tune-layers"]);
    }
    // Nothing was written: no tuned layers, no adapter.
    assert!(!cache
        .path()
        .join("retrieval/tuned-minilm.safetensors")
        .exists());
    assert!(!cache
        .path()
        .join("retrieval/adapter-minilm.safetensors")
        .exists());
}
