//! Adapter checkpoints: the trainable tensors only (safetensors) plus a JSON
//! record of how they were made. Both written atomically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::llama::{LoraConfig, Mllm};

pub const FORMAT: &str = "mmtool-adapter/1";
pub const TENSORS_FILE: &str = "adapter.safetensors";
pub const RECORD_FILE: &str = "adapter.json";

/// What an adapter needs to be rebuilt, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterRecord {
    pub format: String,
    /// The backbone it was trained on (a path as given at training time).
    pub backbone: String,
    pub lora: LoraConfig,
    pub media_dim: usize,
    /// Free-form training record (config, data files, seed, step ...).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// Writes `bytes` to `path` atomically ([`mmtool_data::write_atomic`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mmtool_data::write_atomic(path, bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// Serialises named tensors to safetensors bytes.
pub fn tensors_to_bytes(tensors: &HashMap<String, Tensor>) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let p = dir.path().join("t.safetensors");
    candle_core::safetensors::save(tensors, &p)?;
    Ok(std::fs::read(&p)?)
}

/// The model's trainable tensors by name.
pub fn trainable_tensors(model: &Mllm) -> HashMap<String, Tensor> {
    let data = model.varmap().data().lock().expect("varmap lock");
    data.iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect()
}

/// Saves the adapter into `dir` (`adapter.safetensors` + `adapter.json`).
pub fn save_adapter(
    model: &Mllm,
    dir: &Path,
    backbone: &str,
    training: serde_json::Value,
) -> Result<()> {
    let bytes = tensors_to_bytes(&trainable_tensors(model))?;
    write_atomic(&dir.join(TENSORS_FILE), &bytes)?;
    let rec = AdapterRecord {
        format: FORMAT.into(),
        backbone: backbone.into(),
        lora: model.lora_config().clone(),
        media_dim: model.media_dim(),
        training,
    };
    write_atomic(
        &dir.join(RECORD_FILE),
        serde_json::to_string_pretty(&rec)?.as_bytes(),
    )
}

/// Reads an adapter directory's record.
pub fn read_record(dir: &Path) -> Result<AdapterRecord> {
    let p = dir.join(RECORD_FILE);
    let text = std::fs::read_to_string(&p)
        .with_context(|| format!("{}: cannot read adapter record", p.display()))?;
    let rec: AdapterRecord = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed adapter record", p.display()))?;
    if rec.format != FORMAT {
        bail!(
            "{}: unsupported format {:?} (expected {FORMAT:?})",
            p.display(),
            rec.format
        );
    }
    Ok(rec)
}

/// Loads named tensors into the model's trainable variables. Every variable
/// must be present with its exact shape, and no unknown tensor may appear.
pub fn load_tensors_into(model: &Mllm, file: &Path, dev: &Device) -> Result<()> {
    let loaded = candle_core::safetensors::load(file, dev)
        .with_context(|| format!("{}: cannot read adapter tensors", file.display()))?;
    let data = model.varmap().data().lock().expect("varmap lock");
    for name in loaded.keys() {
        if !data.contains_key(name) {
            bail!("{}: unexpected tensor {name:?} (the adapter does not match this LoRA configuration)", file.display());
        }
    }
    for (name, var) in data.iter() {
        let t = loaded
            .get(name)
            .with_context(|| format!("{}: missing tensor {name:?}", file.display()))?;
        if t.shape() != var.shape() {
            bail!(
                "{}: tensor {name:?} has shape {:?}, the model expects {:?}",
                file.display(),
                t.shape(),
                var.shape()
            );
        }
        var.set(&t.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// Starts a model from another adapter's tensors: each trainable variable
/// found there with the same shape is loaded; the names of those left at
/// their fresh start (absent, or another shape, e.g. a projection of another
/// media width) are returned. A file sharing no tensor at all with the
/// model is an error: it is not an adapter of this backbone and LoRA set-up.
pub fn load_matching_into(model: &Mllm, file: &Path) -> Result<Vec<String>> {
    let loaded = candle_core::safetensors::load(file, model.device())
        .with_context(|| format!("{}: cannot read adapter tensors", file.display()))?;
    let data = model.varmap().data().lock().expect("varmap lock");
    let mut skipped = Vec::new();
    let mut used = 0;
    for (name, var) in data.iter() {
        match loaded.get(name) {
            Some(t) if t.shape() == var.shape() => {
                var.set(&t.to_dtype(var.dtype())?)?;
                used += 1;
            }
            _ => skipped.push(name.clone()),
        }
    }
    if used == 0 {
        bail!(
            "{}: shares no tensor with this model's adapter (another backbone or LoRA set-up?)",
            file.display()
        );
    }
    skipped.sort();
    Ok(skipped)
}

/// Loads `dir/adapter.safetensors` into a model built with `read_record(dir)`'s settings.
pub fn load_adapter(model: &Mllm, dir: &Path) -> Result<()> {
    let p: PathBuf = dir.join(TENSORS_FILE);
    load_tensors_into(model, &p, model.device())
}
