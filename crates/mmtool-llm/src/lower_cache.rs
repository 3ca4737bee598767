//! The frozen lower layers' output for text-only training examples, kept on
//! disk between runs.
//!
//! Running layers `0..from` once per example is the larger half of a first
//! epoch (docs/llm.md). Their output depends only on the backbone, the
//! layer split and the token ids, so a later run over the same examples
//! (a `--resume`, a second stage over the same text items, a run with other
//! LoRA settings on the same layers) reads it back instead. Files live in
//! `$MMTOOL_CACHE/train-cache/`, are named by a key over all three inputs,
//! and only the most recently used [`KEEP`] are kept: one is ~1.7 GB for
//! 12K examples. Temporary files that a killed save left behind are removed
//! by the next save.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};

use crate::train::Example;

/// Bump when the lower layers' arithmetic changes, so old files stop matching.
const FORMAT: &str = "mmtool-lower-cache/1";
/// Cache files kept in the directory (most recently used first).
pub const KEEP: usize = 3;
const KEY_TENSOR: &str = "key";

/// Where the files go: `$MMTOOL_CACHE/train-cache`.
pub fn default_dir() -> PathBuf {
    mmtool_data::cache_dir().join("train-cache")
}

/// Identity of a backbone on disk: its path, and the size and modification
/// time of each weight file, so a replaced checkpoint never matches.
pub fn backbone_fingerprint(path: &Path) -> Result<String> {
    let canon = path
        .canonicalize()
        .with_context(|| format!("{}: cannot read backbone", path.display()))?;
    let mut files = Vec::new();
    if canon.is_dir() {
        for e in std::fs::read_dir(&canon)
            .with_context(|| format!("{}: cannot list backbone", canon.display()))?
        {
            let p = e?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".safetensors") || name.ends_with(".gguf") || name == "config.json" {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.push(canon.clone());
    }
    let mut s = format!("{}\n", canon.display());
    for f in files {
        let m = std::fs::metadata(&f).with_context(|| format!("{}: cannot stat", f.display()))?;
        let mtime = m
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        s.push_str(&format!("{} {} {mtime}\n", f.display(), m.len()));
    }
    Ok(s)
}

/// Key over the backbone, the layer split and every text-only example's ids
/// (in order): equal keys mean equal hidden states.
pub fn key(backbone: &str, upto: usize, hidden: usize, examples: &[Example]) -> String {
    let mut h = Sha256::new();
    h.update(FORMAT.as_bytes());
    h.update(backbone.as_bytes());
    h.update((upto as u64).to_le_bytes());
    h.update((hidden as u64).to_le_bytes());
    for (i, e) in examples.iter().enumerate() {
        if e.media.is_some() {
            continue;
        }
        h.update((i as u64).to_le_bytes());
        h.update((e.ids.len() as u64).to_le_bytes());
        for id in &e.ids {
            h.update(id.to_le_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache file for a key inside `dir`.
pub fn file_for(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("lower-{}.safetensors", &key[..32]))
}

/// Writes the cached rows (`None` for media examples) to `path` atomically.
pub fn save(path: &Path, key: &str, cached: &[Option<Tensor>]) -> Result<()> {
    let mut map: HashMap<String, Tensor> = cached
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.as_ref().map(|t| (format!("h.{i}"), t.clone())))
        .collect();
    map.insert(
        KEY_TENSOR.into(),
        Tensor::new(key.as_bytes(), &Device::Cpu)?,
    );
    let dir = path
        .parent()
        .with_context(|| format!("{}: no parent folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    // A sibling temporary file, renamed over the target: a crash never leaves
    // a half-written cache under the real name.
    let tmp = tempfile::Builder::new()
        .prefix(".lower-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("{}: cannot create a temporary file", dir.display()))?;
    candle_core::safetensors::save(&map, tmp.path())
        .with_context(|| format!("{}: cannot write", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    Ok(())
}

/// Reads a cache written by [`save`] for these examples. Fails, naming the
/// file, when it belongs to another key or lacks a row.
pub fn load(
    path: &Path,
    key: &str,
    examples: &[Example],
    hidden: usize,
) -> Result<Vec<Option<Tensor>>> {
    let mut map = candle_core::safetensors::load(path, &Device::Cpu)
        .with_context(|| format!("{}: unreadable lower-layer cache", path.display()))?;
    let stored = map
        .remove(KEY_TENSOR)
        .with_context(|| format!("{}: not a lower-layer cache (no key)", path.display()))?
        .to_vec1::<u8>()?;
    if stored != key.as_bytes() {
        bail!(
            "{}: cache of other examples or another backbone",
            path.display()
        );
    }
    let mut out = Vec::with_capacity(examples.len());
    for (i, e) in examples.iter().enumerate() {
        if e.media.is_some() {
            out.push(None);
            continue;
        }
        let t = map
            .remove(&format!("h.{i}"))
            .with_context(|| format!("{}: no row for example {i}", path.display()))?;
        if t.dims() != [e.ids.len(), hidden] {
            bail!(
                "{}: row {i} has shape {:?}, expected [{}, {hidden}]",
                path.display(),
                t.dims(),
                e.ids.len()
            );
        }
        out.push(Some(t));
    }
    // Marks it as recently used, for [`prune`].
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
    Ok(out)
}

/// A temporary file untouched this long belongs to no running save: a run
/// killed while writing (Ctrl-C skips destructors) left it behind.
const STALE_TMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes all but the `keep` most recently used cache files in `dir`, and
/// temporary files that killed runs left there; returns what it removed.
pub fn prune(dir: &Path, keep: usize) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let named = |p: &Path, pre: &str, suf: &str| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(pre) && n.ends_with(suf))
    };
    let now = std::time::SystemTime::now();
    let mut files = Vec::new();
    let mut removed = Vec::new();
    for p in rd.filter_map(|e| e.ok()).map(|e| e.path()) {
        let Some(mtime) = std::fs::metadata(&p).ok().and_then(|m| m.modified().ok()) else {
            continue;
        };
        if named(&p, "lower-", ".safetensors") {
            files.push((mtime, p));
        } else if named(&p, ".lower-", ".tmp")
            && now.duration_since(mtime).is_ok_and(|age| age > STALE_TMP)
            && std::fs::remove_file(&p).is_ok()
        {
            removed.push(p);
        }
    }
    files.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (_, p) in files.into_iter().skip(keep) {
        if std::fs::remove_file(&p).is_ok() {
            removed.push(p);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(ids: &[u32], media: bool) -> Example {
        Example {
            ids: ids.to_vec(),
            prompt_len: 1,
            media: media.then(|| (0, vec![0.0; 4])),
        }
    }

    #[test]
    fn key_follows_ids_layers_and_backbone_but_not_media_rows() {
        let a = vec![ex(&[1, 2, 3], false), ex(&[4, 5], true)];
        let k = key("b", 3, 8, &a);
        assert_eq!(k, key("b", 3, 8, &a));
        assert_ne!(k, key("c", 3, 8, &a));
        assert_ne!(k, key("b", 2, 8, &a));
        let mut b = a.clone();
        b[0].ids[2] = 9;
        assert_ne!(k, key("b", 3, 8, &b));
        let mut c = a.clone();
        c[1].ids[0] = 9;
        assert_eq!(k, key("b", 3, 8, &c), "media rows are never cached");
    }

    #[test]
    fn round_trip_and_mismatches_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let exs = vec![ex(&[1, 2, 3], false), ex(&[4, 5], true), ex(&[6, 7], false)];
        let rows = vec![
            Some(
                Tensor::arange(0f32, 6., &Device::Cpu)
                    .unwrap()
                    .reshape((3, 2))
                    .unwrap(),
            ),
            None,
            Some(Tensor::new(&[[1f32, 2.], [3., 4.]], &Device::Cpu).unwrap()),
        ];
        let k = key("b", 1, 2, &exs);
        let p = file_for(dir.path(), &k);
        save(&p, &k, &rows).unwrap();
        let back = load(&p, &k, &exs, 2).unwrap();
        assert!(back[1].is_none());
        for i in [0, 2] {
            let (a, b) = (rows[i].as_ref().unwrap(), back[i].as_ref().unwrap());
            assert_eq!(a.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        }
        let other = key("other", 1, 2, &exs);
        let err = load(&p, &other, &exs, 2).unwrap_err().to_string();
        assert!(
            err.contains(&p.display().to_string()) && err.contains("other"),
            "{err}"
        );
        let err = load(&p, &k, &exs, 3).unwrap_err().to_string();
        assert!(err.contains("shape"), "{err}");
        std::fs::write(&p, b"not safetensors").unwrap();
        let err = format!("{:#}", load(&p, &k, &exs, 2).unwrap_err());
        assert!(err.contains(&p.display().to_string()), "{err}");
    }

    #[test]
    fn prune_keeps_the_most_recently_used_and_drops_stale_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = std::time::SystemTime::now();
        for i in 0..4u64 {
            let p = dir.path().join(format!("lower-{i}.safetensors"));
            std::fs::write(&p, b"x").unwrap();
            let f = std::fs::File::options().append(true).open(&p).unwrap();
            f.set_modified(t0 - std::time::Duration::from_secs(100 - i))
                .unwrap();
        }
        std::fs::write(dir.path().join("other.txt"), b"x").unwrap();
        // Left by a killed save two hours ago, and one a running save is writing.
        let stale = dir.path().join(".lower-abc.tmp");
        std::fs::write(&stale, b"x").unwrap();
        std::fs::File::options()
            .append(true)
            .open(&stale)
            .unwrap()
            .set_modified(t0 - std::time::Duration::from_secs(7200))
            .unwrap();
        let live = dir.path().join(".lower-def.tmp");
        std::fs::write(&live, b"x").unwrap();
        let mut removed = prune(dir.path(), 2);
        removed.sort();
        assert_eq!(
            removed,
            vec![
                stale,
                dir.path().join("lower-0.safetensors"),
                dir.path().join("lower-1.safetensors")
            ]
        );
        assert!(dir.path().join("other.txt").exists());
        assert!(live.exists());
        assert!(dir.path().join("lower-3.safetensors").exists());
    }
}
