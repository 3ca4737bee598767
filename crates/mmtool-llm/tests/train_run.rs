//! `train::run` end to end on a tiny HuggingFace-layout backbone: the lower
//! layers' cache is kept on disk, and a second run over the same examples
//! reads it back and trains to the very same weights.
//!
//! Alone in its test binary because it points `MMTOOL_CACHE` at a temporary
//! folder for the whole process.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{base, tiny_cfg, write_hf_dir};
use mmtool_llm::train::{self, TrainConfig};

fn write_data(dir: &Path) {
    let mut cat = String::new();
    for id in ["unknown", "org/alpha", "org/beta", "org/gamma"] {
        let card = serde_json::json!({
            "id": id, "task": "text-classification", "domain": "NLP",
            "input_modality": "text", "output_modality": "text", "languages": ["en"],
            "summary": format!("tool {id}"), "tags": [], "api_call": format!("load('{id}')"),
            "confidence": "high"
        });
        cat.push_str(&format!("{card}\n"));
    }
    std::fs::write(dir.join("catalog.jsonl"), cat).unwrap();
    let words = ["sort", "rank", "tag", "read", "mark", "pick"];
    let mut items = Vec::new();
    for (i, w) in words.iter().cycle().take(18).enumerate() {
        let answer = ["org/alpha", "org/beta", "org/gamma"][i % 3];
        items.push(serde_json::json!({
            "id": i + 1, "image_path": "", "audio_path": "", "video_path": "",
            "input_modality": "text", "output_modality": "text",
            "conversations": [
                {"from": "human", "value": format!("{w} item {i}"), "input_modality": "text"},
                {"from": "gpt", "value": answer, "ambiguity": -1, "output_modality": "text"}
            ],
            "ifambiguity": false, "onetomulti": false, "ambiguity": -1
        }));
    }
    std::fs::write(
        dir.join("train_synth.json"),
        serde_json::to_string(&items).unwrap(),
    )
    .unwrap();
}

fn config(backbone: &Path, out: &Path) -> TrainConfig {
    let text = format!(
        r#"
backbone = "{}"
train_files = ["train_synth.json"]
output_dir = "{}"
epochs = 1
batch_size = 4
dev_size = 2
checkpoint_every = 0
media_dim = 4
[lora]
rank = 2
alpha = 2.0
dropout = 0.0
layers = [2]
"#,
        backbone.display(),
        out.display()
    );
    let cfg: TrainConfig = toml::from_str(&text).unwrap();
    cfg.validate().unwrap();
    cfg
}

fn adapter(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let mut t: Vec<(String, Vec<f32>)> = candle_core::safetensors::load(
        dir.join(mmtool_llm::checkpoint::TENSORS_FILE),
        &candle_core::Device::Cpu,
    )
    .unwrap()
    .into_iter()
    .map(|(k, v)| (k, v.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
    .collect();
    t.sort_by(|a, b| a.0.cmp(&b.0));
    t
}

#[test]
fn a_second_run_reads_the_kept_lower_layers_and_trains_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::env::set_var("MMTOOL_CACHE", &cache);
    let cfg = mmtool_llm::Config {
        tie_word_embeddings: false,
        ..tiny_cfg()
    };
    let hf = tmp.path().join("hf");
    std::fs::create_dir(&hf).unwrap();
    write_hf_dir(&hf, &cfg, &base(&cfg, 3));
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_data(&data);

    let out1 = tmp.path().join("run1");
    train::run(config(&hf, &out1), &data, false, None).unwrap();
    let kept: Vec<_> = std::fs::read_dir(cache.join("train-cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let meta = std::fs::metadata(&kept[0]).unwrap();
    let stamp = meta.modified().unwrap();

    let out2 = tmp.path().join("run2");
    train::run(config(&hf, &out2), &data, false, None).unwrap();
    assert_eq!(adapter(&out1), adapter(&out2));
    assert!(
        std::fs::metadata(&kept[0]).unwrap().modified().unwrap() >= stamp,
        "a read marks the file as recently used"
    );
    assert_eq!(
        std::fs::read_dir(cache.join("train-cache"))
            .unwrap()
            .count(),
        1,
        "the second run wrote no new cache"
    );
    // Rewriting goes through a rename, which would give the file a new inode.
    assert_eq!(
        std::fs::metadata(&kept[0]).unwrap().ino(),
        meta.ino(),
        "the second run read the file instead of computing and writing it again"
    );

    // A corrupt cache is reported and recomputed; training still matches.
    std::fs::write(&kept[0], b"garbage").unwrap();
    let out3 = tmp.path().join("run3");
    train::run(config(&hf, &out3), &data, false, None).unwrap();
    assert_eq!(adapter(&out1), adapter(&out3));
    let rewritten = std::fs::metadata(&kept[0]).unwrap();
    assert!(
        rewritten.len() > 100 && rewritten.ino() != meta.ino(),
        "rewritten"
    );

    // Other LoRA layers mean other cached layers: a second file.
    let mut lower = config(&hf, &tmp.path().join("run4"));
    lower.lora.layers = vec![1, 2];
    train::run(lower, &data, false, None).unwrap();
    assert_eq!(
        std::fs::read_dir(cache.join("train-cache"))
            .unwrap()
            .count(),
        2
    );

    // Turned off, nothing is read or written.
    std::fs::remove_dir_all(cache.join("train-cache")).unwrap();
    let mut off = config(&hf, &tmp.path().join("run5"));
    off.keep_lower_cache = false;
    train::run(off, &data, false, None).unwrap();
    assert!(!cache.join("train-cache").exists());
    assert_eq!(adapter(&out1), adapter(&tmp.path().join("run5")));
}
