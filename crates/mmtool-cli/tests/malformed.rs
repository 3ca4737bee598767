//! Bad input of every kind ends with a clear error that names the file (or
//! the value) and the problem, and a non-zero exit, never a panic.

mod common;

use common::{card_line, fails, item, path_str, Fixture};
use serde_json::json;

#[test]
fn malformed_json_in_every_input_file() {
    let fx = Fixture::new();
    let bad = fx.write("bad.json", "[{\"id\": 1,");
    let gold = fx.path("test.json");
    let pred = fx.write("pred.json", "[]");
    let b = path_str(&bad);

    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&bad)
            .arg("--pred")
            .arg(&pred),
        2,
        &[&b, "malformed JSON"],
    );
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&bad),
        2,
        &[&b, "malformed JSON"],
    );
    fails(
        fx.cmd().args(["data", "check"]).arg(&bad),
        1,
        &[&b, "malformed JSON"],
    );
    fails(
        fx.cmd()
            .args(["predict", "--backend", "bm25", "--data"])
            .arg(&bad)
            .arg("--out")
            .arg(fx.path("o.json")),
        2,
        &[&b, "malformed JSON"],
    );
    assert!(!fx.path("o.json").exists());

    let empty = fx.write("empty.json", "");
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&empty),
        2,
        &[&path_str(&empty), "empty"],
    );
    let obj = fx.write("obj.json", "{}");
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&obj),
        2,
        &[&path_str(&obj), "JSON list"],
    );
}

#[test]
fn malformed_catalog_names_file_and_line() {
    let fx = Fixture::new();
    let good = card_line("t5-base", "translation", "text", "Translates.");
    fx.write("catalog.jsonl", format!("{good}\n{{\"id\": \"x\"}}\n"));
    let cat = path_str(&fx.path("catalog.jsonl"));
    fails(
        fx.cmd().args(["catalog", "list"]),
        2,
        &[&format!("{cat}:2"), "missing field"],
    );
    fails(
        fx.cmd().args(["recommend", "translate this"]),
        2,
        &[&format!("{cat}:2")],
    );
    fx.write("catalog.jsonl", "");
    fails(fx.cmd().args(["catalog", "list"]), 2, &[&cat, "no entries"]);
}

#[test]
fn missing_fields_name_the_record_and_field() {
    let fx = Fixture::new();
    let gold = fx.path("test.json");
    let pred = fx.write(
        "pred.json",
        json!([{"question_id": 1, "questions": "q"}]).to_string(),
    );
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&pred),
        2,
        &[&path_str(&pred), "record #0", "missing field `response`"],
    );
    let pred = fx.write(
        "pred2.json",
        json!([{"questions": "q", "response": "r"}]).to_string(),
    );
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&pred),
        2,
        &[&path_str(&pred), "missing field `question_id`"],
    );
    let pred = fx.write(
        "pred3.json",
        json!([{"question_id": "x1", "response": "r"}]).to_string(),
    );
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&gold)
            .arg("--pred")
            .arg(&pred),
        2,
        &[&path_str(&pred), "question_id"],
    );

    let no_conv = fx.write(
        "noconv.json",
        json!([{"id": 1, "input_modality": "text"}]).to_string(),
    );
    let ok_pred = fx.write("ok.json", "[]");
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&no_conv)
            .arg("--pred")
            .arg(&ok_pred),
        2,
        &[&path_str(&no_conv), "item #0 (id 1)", "conversations"],
    );
    fails(
        fx.cmd().args(["data", "check"]).arg(&no_conv),
        1,
        &[&path_str(&no_conv), "conversations"],
    );
    let empty_gold = fx.write("empty-gold.json", "[]");
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&empty_gold)
            .arg("--pred")
            .arg(&ok_pred),
        2,
        &[&path_str(&empty_gold), "no items"],
    );
}

#[test]
fn data_check_reports_unknown_tool_ids() {
    let fx = Fixture::new();
    let f = fx.write(
        "odd.json",
        json!([
            item(
                json!(1),
                "text",
                "translate",
                json!("t5-base"),
                json!(-1),
                false
            ),
            item(
                json!(2),
                "text",
                "summarise",
                json!(["nobody/nothing", "t5-base"]),
                json!(-1),
                true
            ),
        ])
        .to_string(),
    );
    let out = fx.cmd().args(["data", "check"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 tool ids not in the catalog")
            && stdout.contains("\"nobody/nothing\" (items 2)"),
        "{stdout}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));

    let out = fx
        .cmd()
        .args(["data", "check", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["not_in_catalog"], json!({"nobody/nothing": [2]}));

    // The fixture's own gold file is clean.
    fx.cmd()
        .args(["data", "check"])
        .arg(fx.path("test.json"))
        .assert()
        .success();
}

#[test]
fn unknown_backend_is_named_with_the_alternatives() {
    let fx = Fixture::new();
    fails(
        fx.cmd()
            .args(["recommend", "translate", "--backend", "nope"]),
        2,
        &["unknown backend \"nope\"", "bm25"],
    );
    fails(
        fx.cmd()
            .args(["predict", "--backend", "nope", "--data"])
            .arg(fx.path("test.json"))
            .arg("--out")
            .arg(fx.path("o.json")),
        2,
        &["unknown backend \"nope\""],
    );
}

#[test]
fn missing_empty_or_directory_media_files() {
    let fx = Fixture::new();
    let empty = fx.write("empty.bin", "");
    let missing = fx.path("no-such-file.wav");
    for flag in ["--image", "--audio", "--video"] {
        fails(
            fx.cmd()
                .args(["recommend", "describe this", flag])
                .arg(&missing),
            2,
            &[&path_str(&missing), "cannot read media file"],
        );
        fails(
            fx.cmd()
                .args(["recommend", "describe this", flag])
                .arg(&empty),
            2,
            &[&path_str(&empty), "empty"],
        );
        fails(
            fx.cmd()
                .args(["recommend", "describe this", flag])
                .arg(fx.dir.path()),
            2,
            &[&path_str(fx.dir.path()), "not a regular file"],
        );
    }
    // Two attachments at once is a usage error (clap exits 2 and says why).
    let out = fx
        .cmd()
        .args(["recommend", "x", "--image"])
        .arg(&empty)
        .arg("--audio")
        .arg(&empty)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}

#[test]
fn predict_refuses_to_clobber_without_force() {
    let fx = Fixture::new();
    let out = fx.write("preds.json", "precious");
    fails(
        fx.cmd()
            .args(["predict", "--backend", "bm25", "--data"])
            .arg(fx.path("test.json"))
            .arg("--out")
            .arg(&out),
        2,
        &[&path_str(&out), "already exists", "--force"],
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
    fx.cmd()
        .args(["predict", "--backend", "bm25", "--force", "--data"])
        .arg(fx.path("test.json"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("question_id"));
}

#[test]
fn predict_checks_the_output_location_before_working() {
    let fx = Fixture::new();
    let nested = fx.path("no-dir/preds.json");
    fails(
        fx.cmd()
            .args(["predict", "--backend", "bm25", "--data"])
            .arg(fx.path("test.json"))
            .arg("--out")
            .arg(&nested),
        2,
        &[&path_str(&nested), "does not exist"],
    );
    fails(
        fx.cmd()
            .args(["predict", "--backend", "bm25", "--force", "--data"])
            .arg(fx.path("test.json"))
            .arg("--out")
            .arg(fx.dir.path()),
        2,
        &["is a directory"],
    );
}

#[test]
fn nonexistent_data_dir_is_named() {
    let fx = Fixture::new();
    let missing = fx.path("nowhere");
    for args in [
        vec!["catalog", "list"],
        vec!["recommend", "translate"],
        vec!["catalog", "show", "t5-base"],
    ] {
        let mut cmd = assert_cmd::Command::cargo_bin("mmtool").unwrap();
        cmd.env_remove("MMTOOL_DATA_DIR")
            .arg("--data-dir")
            .arg(&missing)
            .args(&args);
        fails(
            &mut cmd,
            2,
            &[&path_str(&missing), "does not exist", "MMTOOL_DATA_DIR"],
        );
    }
    let mut cmd = assert_cmd::Command::cargo_bin("mmtool").unwrap();
    cmd.env("MMTOOL_DATA_DIR", &missing)
        .args(["catalog", "list"]);
    fails(&mut cmd, 2, &[&path_str(&missing), "does not exist"]);
}

#[test]
fn unknown_catalog_id_in_show() {
    let fx = Fixture::new();
    fails(
        fx.cmd().args(["catalog", "show", "nobody/nothing"]),
        2,
        &["\"nobody/nothing\"", "not in the catalog"],
    );
    let out = fx
        .cmd()
        .args(["catalog", "show", "t5-base"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"api_call\""));
}

#[test]
fn missing_files_are_named() {
    let fx = Fixture::new();
    let missing = fx.path("absent.json");
    let m = path_str(&missing);
    fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(&missing)
            .arg("--pred")
            .arg(&missing),
        2,
        &[&m, "cannot read"],
    );
    fails(
        fx.cmd().args(["data", "check"]).arg(&missing),
        1,
        &[&m, "cannot read"],
    );
    // A directory where a file belongs: the OS reason appears once, not twice.
    let stderr = fails(
        fx.cmd()
            .args(["eval", "--gold"])
            .arg(fx.path("test.json"))
            .arg("--pred")
            .arg(fx.dir.path()),
        2,
        &[&path_str(fx.dir.path()), "cannot read file"],
    );
    let reason = stderr.rsplit(": ").next().unwrap().trim();
    assert_eq!(stderr.matches(reason).count(), 1, "{stderr}");
    std::fs::remove_file(fx.path("train_audio.json")).unwrap();
    fails(
        fx.cmd().args(["recommend", "translate"]),
        2,
        &["train_audio.json", "cannot read"],
    );
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // `mmtool catalog list | head -0`: the reader is gone before we write.
    // More output than a pipe buffers (64 KiB), so a write hits the closed pipe
    // however the two processes are scheduled.
    let fx = Fixture::new();
    let cards: Vec<String> = (0..2000)
        .map(|i| {
            card_line(
                &format!("org/tool-{i}"),
                "translation",
                "text",
                "Translates.",
            )
        })
        .collect();
    fx.write("catalog.jsonl", cards.join("\n"));
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("mmtool"))
        .env_remove("MMTOOL_DATA_DIR")
        .arg("--data-dir")
        .arg(fx.dir.path())
        .args(["catalog", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "{stderr}");
}

#[test]
fn real_data_dir_checks_clean_when_present() {
    // MMTOOL_DATA_DIR, else the data beside the crate or beside the project root.
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        std::env::var_os("MMTOOL_DATA_DIR").map(std::path::PathBuf::from),
        Some(crate_dir.join("../../shared/toolmmbench")),
        Some(crate_dir.join("../../../shared/toolmmbench")),
    ];
    let Some(dir) = candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("test.json").is_file())
    else {
        eprintln!("skipping: no ToolMMBench data dir (set MMTOOL_DATA_DIR)");
        return;
    };
    let mut cmd = assert_cmd::Command::cargo_bin("mmtool").unwrap();
    cmd.env_remove("MMTOOL_DATA_DIR")
        .arg("--data-dir")
        .arg(&dir)
        .args(["data", "check", "--json"])
        .arg(dir.join("test.json"));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["items"], 1903);
}
