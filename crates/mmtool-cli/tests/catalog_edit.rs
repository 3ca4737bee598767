//! `mmtool catalog add/remove` on a temporary copy of the catalog.

use assert_cmd::Command;
use predicates::str::contains;
use std::path::Path;

const SHARED: &str = "../../../shared/toolmmbench";

fn data_copy() -> Option<tempfile::TempDir> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(SHARED)
        .join("catalog.jsonl");
    if !src.exists() {
        eprintln!("skipping: {} not found", src.display());
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&src, dir.path().join("catalog.jsonl")).unwrap();
    Some(dir)
}

fn mmtool(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("mmtool").unwrap();
    c.arg("--data-dir")
        .arg(dir)
        .env("MMTOOL_CACHE", dir.join("cache"));
    c
}

const CARD: &str = r#"{"id": "acme/tiny-upscaler", "task": "image-to-image", "domain": "Computer Vision",
 "input_modality": "image", "output_modality": "image", "summary": "Upscales small photos 4x.",
 "api_call": "pipeline('image-to-image', model='acme/tiny-upscaler')"}"#;

#[test]
fn add_then_remove_round_trips_the_catalog() {
    let Some(dir) = data_copy() else { return };
    let cat = dir.path().join("catalog.jsonl");
    let before = std::fs::read_to_string(&cat).unwrap();
    let n = before.lines().count();
    let card = dir.path().join("card.json");
    std::fs::write(&card, CARD).unwrap();

    mmtool(dir.path())
        .args(["catalog", "add", "--no-index"])
        .arg(&card)
        .assert()
        .success()
        .stdout(contains("added acme/tiny-upscaler"));
    let after = std::fs::read_to_string(&cat).unwrap();
    assert_eq!(after.lines().count(), n + 1);
    mmtool(dir.path())
        .args(["catalog", "show", "acme/tiny-upscaler"])
        .assert()
        .success()
        .stdout(contains("Upscales"));

    // Adding it again is refused and leaves the file alone.
    mmtool(dir.path())
        .args(["catalog", "add", "--no-index"])
        .arg(&card)
        .assert()
        .code(2)
        .stderr(contains("already in the catalog"));
    assert_eq!(std::fs::read_to_string(&cat).unwrap(), after);

    mmtool(dir.path())
        .args(["catalog", "remove", "--no-index", "acme/tiny-upscaler"])
        .assert()
        .success();
    assert_eq!(std::fs::read_to_string(&cat).unwrap().lines().count(), n);
    mmtool(dir.path())
        .args(["catalog", "remove", "--no-index", "acme/tiny-upscaler"])
        .assert()
        .code(2)
        .stderr(contains("not in the catalog"));
    mmtool(dir.path())
        .args(["catalog", "remove", "--no-index", "unknown"])
        .assert()
        .code(2)
        .stderr(contains("cannot be removed"));
}

#[test]
fn bad_cards_are_rejected_with_the_file_and_problem_named() {
    let Some(dir) = data_copy() else { return };
    let cat = dir.path().join("catalog.jsonl");
    let before = std::fs::read_to_string(&cat).unwrap();
    let card = dir.path().join("bad.json");
    for (content, want) in [
        (
            CARD.replace(
                "acme/tiny-upscaler\", \"task",
                "acme/tiny upscaler\", \"task",
            ),
            "not a hub id",
        ),
        (
            CARD.replace("\"summary\": \"Upscales small photos 4x.\",", ""),
            "summary",
        ),
        (
            CARD.replace(
                "\"summary\": \"Upscales small photos 4x.\"",
                "\"summary\": \" \"",
            ),
            "\"summary\" is empty",
        ),
        ("{oops".to_string(), "bad.json"),
        (String::new(), "bad.json"),
    ] {
        std::fs::write(&card, &content).unwrap();
        mmtool(dir.path())
            .args(["catalog", "add", "--no-index"])
            .arg(&card)
            .assert()
            .code(2)
            .stderr(contains(want));
        assert_eq!(
            std::fs::read_to_string(&cat).unwrap(),
            before,
            "catalog untouched after {content:?}"
        );
    }
    // A list with a duplicate inside is refused as a whole.
    std::fs::write(&card, format!("[{CARD}, {CARD}]")).unwrap();
    mmtool(dir.path())
        .args(["catalog", "add", "--no-index"])
        .arg(&card)
        .assert()
        .code(2)
        .stderr(contains("already in the catalog"));
    assert_eq!(std::fs::read_to_string(&cat).unwrap(), before);
}
