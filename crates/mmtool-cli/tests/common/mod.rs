//! A tiny ToolMMBench data dir in a tempdir, so CLI tests run in milliseconds.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::{json, Value};

pub const CARDS: [(&str, &str, &str, &str); 6] = [
    (
        "t5-base",
        "translation",
        "text",
        "Translates English text to German, French or Romanian.",
    ),
    (
        "openai/whisper-base",
        "automatic-speech-recognition",
        "audio",
        "Transcribes speech recordings to text.",
    ),
    (
        "google/vit-base-patch16-224",
        "image-classification",
        "image",
        "Classifies a photo into ImageNet classes.",
    ),
    (
        "microsoft/resnet-50",
        "image-classification",
        "image",
        "Recognises the object shown in a picture.",
    ),
    (
        "MCG-NJU/videomae-base",
        "video-classification",
        "video",
        "Recognises the action shown in a video clip.",
    ),
    ("unknown", "none", "text", "No tool fits the request."),
];

pub fn card_line(id: &str, task: &str, modality: &str, summary: &str) -> String {
    json!({
        "id": id, "task": task, "domain": "test", "input_modality": modality,
        "output_modality": "text", "summary": summary,
        "api_call": format!("pipeline('{task}', model='{id}')"),
    })
    .to_string()
}

/// One ToolMMBench item in the released layout.
pub fn item(
    id: Value,
    modality: &str,
    instruction: &str,
    answer: Value,
    ambiguity: Value,
    one_to_many: bool,
) -> Value {
    json!({
        "id": id, "image_path": "", "audio_path": "", "video_path": "",
        "input_modality": modality, "output_modality": "text",
        "conversations": [
            {"from": "human", "value": instruction, "input_modality": modality},
            {"from": "gpt", "value": answer, "ambiguity": ambiguity, "output_modality": "text"}
        ],
        "ifambiguity": false, "onetomulti": one_to_many, "ambiguity": ambiguity
    })
}

/// Gold items, hand-labelled:
/// 1 text {t5-base}; 2 image {vit, resnet} ambiguity "2"; 3 audio {whisper}; 4 text {unknown}.
pub fn gold() -> Value {
    json!([
        item(
            json!(1),
            "text",
            "translate this English sentence to German",
            json!(["t5-base"]),
            json!(-1),
            false
        ),
        item(
            json!(2),
            "image",
            "what object is in this picture",
            json!(["google/vit-base-patch16-224", " microsoft/resnet-50"]),
            json!("2"),
            true
        ),
        item(
            json!(3),
            "audio",
            "transcribe this speech recording",
            json!(["openai/whisper-base"]),
            json!(-1),
            false
        ),
        item(
            json!(4),
            "text",
            "order me a pizza for tonight",
            json!(["unknown"]),
            json!("-1"),
            false
        ),
    ])
}

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    /// catalog.jsonl, the three training files and test.json (= [`gold`]).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let catalog: Vec<String> = CARDS
            .iter()
            .map(|(i, t, m, s)| card_line(i, t, m, s))
            .collect();
        std::fs::write(dir.path().join("catalog.jsonl"), catalog.join("\n") + "\n").unwrap();
        let train = |m: &str, text: &str, answer: &str| {
            json!([item(json!(1), m, text, json!(answer), json!(-1), false)]).to_string()
        };
        let p = dir.path();
        std::fs::write(
            p.join("train_synth.json"),
            train("text", "translate to German please", "t5-base"),
        )
        .unwrap();
        std::fs::write(
            p.join("train_audio.json"),
            train("audio", "write down what is said", "openai/whisper-base"),
        )
        .unwrap();
        std::fs::write(
            p.join("train_video.json"),
            train("video", "what action happens", "MCG-NJU/videomae-base"),
        )
        .unwrap();
        std::fs::write(p.join("test.json"), gold().to_string()).unwrap();
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, content).unwrap();
        p
    }

    /// `mmtool --data-dir <fixture>` with MMTOOL_DATA_DIR cleared.
    pub fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("mmtool").unwrap();
        c.env_remove("MMTOOL_DATA_DIR")
            .arg("--data-dir")
            .arg(self.dir.path());
        c
    }
}

/// Runs `cmd`, expects exit `code`, and checks stderr names every `needle`
/// and shows no panic. Returns stderr.
pub fn fails(cmd: &mut Command, code: i32, needles: &[&str]) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    for n in needles {
        assert!(stderr.contains(n), "stderr lacks {n:?}:\n{stderr}");
    }
    stderr
}

/// Runs `cmd`, expects success, returns stdout (stderr shown on failure).
pub fn succeeds(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// Whether every weights file (relative to the model cache, `$MMTOOL_CACHE` or
/// `~/.cache/mmtool`) is there; names the first missing one as SKIPPED.
pub fn weights_present(files: &[&str]) -> bool {
    let cache = std::env::var_os("MMTOOL_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var("HOME").unwrap()).join(".cache/mmtool"));
    for m in files {
        if !cache.join(m).is_file() {
            eprintln!("SKIPPED: {m} missing; run scripts/fetch-weights.sh");
            return false;
        }
    }
    true
}
