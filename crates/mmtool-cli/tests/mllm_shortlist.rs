//! The mllm backend chooses among the retrieval ranking that `--shortlist-scoring` names, and its
//! fusion prior is that ranking's score: with a fusion weight so large that the prior decides,
//! the mllm ranking is the hybrid retrieval backend's ranking, and the dense ranking (which
//! scores `unknown` by its own card instead of the fixed threshold) gives another order. Needs the
//! real MiniLM and SmolLM2 weights (scripts/fetch-weights.sh); says SKIPPED otherwise.

mod common;

use common::Fixture;
use serde_json::Value;

fn ranked(fx: &Fixture, args: &[&str]) -> Vec<String> {
    let out = fx
        .cmd()
        .args(["recommend", "--json", "--top-k", "6"])
        .args(args)
        .arg("translate this English sentence to German")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn fusion_prior_is_the_chosen_retrieval_ranking() {
    if !common::weights_present(&[
        "models/minilm/model.safetensors",
        "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ]) {
        return;
    }
    let fx = Fixture::new();
    let retrieval = ranked(&fx, &["--backend", "retrieval"]);
    assert_eq!(retrieval.len(), 6, "{retrieval:?}");
    assert_eq!(retrieval[0], "t5-base", "{retrieval:?}");
    let prior_decides = [
        "--backend",
        "mllm",
        "--shortlist",
        "6",
        "--fusion-weight",
        "1e6",
    ];
    let hybrid = ranked(&fx, &prior_decides);
    assert_eq!(hybrid, retrieval, "hybrid prior (the default)");
    let explicit = ranked(
        &fx,
        &[&prior_decides[..], &["--shortlist-scoring", "hybrid"]].concat(),
    );
    assert_eq!(explicit, hybrid);
    let dense = ranked(
        &fx,
        &[&prior_decides[..], &["--shortlist-scoring", "dense"]].concat(),
    );
    let mut a = dense.clone();
    let mut b = retrieval.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b, "the same six tools");
    assert_ne!(
        dense, retrieval,
        "the dense ranking places `unknown` by its card, not at the fixed threshold"
    );
}
