//! `mmtool eval` against hand-made gold and prediction files whose scores
//! were worked out by hand (see the comments next to each expectation).

mod common;

use common::{fails, path_str, Fixture};
use serde_json::{json, Value};

fn eval_json(fx: &Fixture, preds: &Value) -> Value {
    let pred = fx.write("pred.json", preds.to_string());
    let out = fx
        .cmd()
        .args(["eval", "--json", "--gold"])
        .arg(fx.path("test.json"))
        .arg("--pred")
        .arg(pred)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn p(id: Value, response: &str) -> Value {
    json!({"question_id": id, "questions": "q", "response": response})
}

#[test]
fn perfect_predictions() {
    let fx = Fixture::new();
    let v = eval_json(
        &fx,
        &json!([
            p(json!(1), "{'api_name': t5-base}"),
            p(json!(2), "{'api_name': 'microsoft/resnet-50'}\n###"),
            p(json!(3), "{\"api_name\": \"openai/whisper-base\"}"),
            p(json!(4), "{'api_name': unknown}"),
        ]),
    );
    assert_eq!(v["n"], 4);
    assert_eq!(v["accuracy"], 1.0);
    assert_eq!(v["format_accuracy"], 1.0);
    assert_eq!(v["hallucination_rate"], 0.0);
    assert_eq!(
        v["acc_at_k"],
        json!({"1": 1.0, "3": 1.0, "5": 1.0, "10": 1.0})
    );
    assert_eq!(v["unknown"]["precision"], 1.0);
    assert_eq!(v["unknown"]["recall"], 1.0);
    assert_eq!(v["by_ambiguity"]["2"]["accuracy"], 1.0);
    assert_eq!(v["ranked_fallback"], 4);
}

#[test]
fn wrong_unparseable_and_non_catalog_answers() {
    let fx = Fixture::new();
    // 1: a catalog tool, but wrong; ranked has the answer second -> acc@1 miss, acc@3 hit.
    // 2: unparseable (no api_name) -> wrong, not parsed; no ranked -> fallback miss.
    // 3: "made/up" parses but is not in the catalog -> hallucinated, wrong.
    // 4: right ("unknown"), id given as a string; fallback hit at rank 1.
    let mut one = p(json!(1), "{'api_name': openai/whisper-base}");
    one["ranked"] = json!([{"api_name": "openai/whisper-base", "score": 3.0}, {"api_name": "t5-base", "score": 1.0}]);
    let v = eval_json(
        &fx,
        &json!([
            one,
            p(json!(2), "It is probably a ViT."),
            p(json!(3), "{'api_name': made/up}"),
            p(json!("4"), "{'api_name': unknown}"),
        ]),
    );
    assert_eq!(v["n"], 4);
    assert_eq!(
        (
            v["parsed"].clone(),
            v["hallucinated"].clone(),
            v["correct"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    assert_eq!(v["accuracy"], 0.25);
    assert_eq!(v["format_accuracy"], 0.75);
    assert_eq!(v["hallucination_rate"], 1.0 / 3.0);
    assert_eq!(v["acc_at_k"]["1"], 0.25);
    assert_eq!(v["acc_at_k"]["3"], 0.5);
    assert_eq!(v["ranked_fallback"], 3);
    // text = items 1 and 4: one right; image = item 2: nothing parsed.
    assert_eq!(v["by_modality"]["text"]["accuracy"], 0.5);
    assert_eq!(v["by_modality"]["image"]["format_accuracy"], 0.0);
    assert_eq!(v["by_modality"]["image"]["hallucination_rate"], Value::Null);
    assert_eq!(v["by_modality"]["audio"]["hallucination_rate"], 1.0);
    assert_eq!(v["by_answer_set"]["one_to_many"]["n"], 1);
    assert_eq!(v["by_answer_set"]["single"]["accuracy"], 1.0 / 3.0);
    assert_eq!(
        v["unknown"],
        json!({"gold": 1, "predicted": 1, "correct": 1, "precision": 1.0, "recall": 1.0})
    );
}

#[test]
fn partial_file_with_extra_ids_reports_both_in_the_table() {
    let fx = Fixture::new();
    let pred = fx.write(
        "pred.json",
        json!([
            p(json!(77), "{'api_name': t5-base}"),
            p(json!(1), "{'api_name': t5-base}")
        ])
        .to_string(),
    );
    let out = fx
        .cmd()
        .args(["eval", "--gold"])
        .arg(fx.path("test.json"))
        .arg("--pred")
        .arg(&pred)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    // Missing items 2, 3, 4 count as wrong: 1 of 4 right.
    for want in [
        "4 gold items, 1 with a prediction",
        "accuracy              25.00%  (1/4 correct)",
        "format accuracy       25.00%  (1/4",
        "gold items without a prediction (scored wrong): 3 (ids 2, 3, 4)",
        "predictions for ids not in the gold file (ignored): 1 (ids 77)",
        "by modality",
        "2 label set",
    ] {
        assert!(table.contains(want), "missing {want:?} in\n{table}");
    }
}

#[test]
fn repeated_ids_are_rejected_in_predictions_and_gold() {
    let fx = Fixture::new();
    let pred = fx.write(
        "dup.json",
        json!([p(json!(1), "a"), p(json!(2), "b"), p(json!("1"), "c")]).to_string(),
    );
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(fx.path("test.json"))
            .arg("--pred")
            .arg(&pred),
        2,
        &[&path_str(&pred), "id 1 appears twice", "#0", "#2"],
    );

    let mut gold = common::gold();
    gold[3]["id"] = json!(2);
    let gold_path = fx.write("dup-gold.json", gold.to_string());
    let ok_pred = fx.write("pred.json", json!([p(json!(1), "a")]).to_string());
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold_path)
            .arg("--pred")
            .arg(&ok_pred),
        2,
        &[&path_str(&gold_path), "id 2 repeats item #1"],
    );
}

#[test]
fn predict_then_eval_round_trips_the_shared_record_type() {
    let fx = Fixture::new();
    let out = fx.path("preds.json");
    fx.cmd()
        .args(["predict", "--backend", "bm25", "--top-k", "3", "--data"])
        .arg(fx.path("test.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let written: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let records = written.as_array().unwrap();
    assert_eq!(records.len(), 4);
    for r in records {
        assert!(
            r["question_id"].is_u64() && r["questions"].is_string(),
            "{r}"
        );
        let ranked = r["ranked"].as_array().unwrap();
        assert!(!ranked.is_empty() && ranked.len() <= 3, "{r}");
        // The response is the top of the ranked list.
        let top = ranked[0]["api_name"].as_str().unwrap();
        assert_eq!(r["response"], format!("{{'api_name': {top}}}"));
    }
    let out = fx
        .cmd()
        .args(["eval", "--json", "--gold"])
        .arg(fx.path("test.json"))
        .arg("--pred")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // BM25 ranks catalog tools only: every response parses, none is hallucinated.
    assert_eq!(v["format_accuracy"], 1.0);
    assert_eq!(v["hallucination_rate"], 0.0);
    assert_eq!(v["ranked_fallback"], 0);
    assert_eq!(v["missing_predictions"]["count"], 0);
    let acc1 = v["acc_at_k"]["1"].as_f64().unwrap();
    assert_eq!(acc1, v["accuracy"].as_f64().unwrap());
    assert!(v["acc_at_k"]["3"].as_f64().unwrap() >= acc1);
}

#[test]
fn eval_help_explains_the_metrics() {
    let out = Fixture::new()
        .cmd()
        .args(["eval", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for want in ["--gold", "--pred", "--json", "hallucination rate", "acc@k"] {
        assert!(help.contains(want), "{want} missing in\n{help}");
    }
}

#[test]
fn predict_with_media_names_the_missing_or_unreadable_file() {
    let fx = Fixture::new();
    let mut it = common::item(
        json!(1),
        "image",
        "what object is in this picture",
        json!(["microsoft/resnet-50"]),
        json!(-1),
        false,
    );
    it["image_path"] = json!("media/photo.png");
    let data = fx.path("synth.json");
    std::fs::write(&data, json!([it]).to_string()).unwrap();
    let out = fx.path("preds.json");
    let run = || {
        fx.cmd()
            .args(["predict", "--backend", "bm25", "--with-media", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap()
    };
    let o = run();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("photo.png") && err.contains("item id 1"),
        "{err}"
    );
    // A file that is there but is not an image: named too, and no predictions file.
    std::fs::create_dir_all(fx.path("media")).unwrap();
    std::fs::write(fx.path("media/photo.png"), b"this is not a picture").unwrap();
    let o = run();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("photo.png"), "{err}");
    assert!(!out.exists());
    // Without --with-media the same item is answered from its words.
    fx.cmd()
        .args(["predict", "--backend", "bm25", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
}
