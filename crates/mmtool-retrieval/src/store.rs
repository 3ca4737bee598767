//! Files under the cache directory: an embedding store (text hash -> vector,
//! so a text is embedded once per model) and the safetensors read/write
//! helpers the index and adapter files share. Every write is atomic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use safetensors::{Dtype, SafeTensors};

use crate::minilm::MiniLm;

/// 64-bit FNV-1a; stable across runs and platforms (unlike `DefaultHasher`).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

pub(crate) fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u64_bytes(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// One named tensor to write: dtype, shape and little-endian bytes.
pub(crate) struct Raw<'a> {
    pub name: &'a str,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Writes tensors plus string metadata as safetensors, atomically.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: &[Raw],
    metadata: HashMap<String, String>,
) -> Result<()> {
    let views: Vec<(&str, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|t| {
            Ok((
                t.name,
                safetensors::tensor::TensorView::new(t.dtype, t.shape.clone(), &t.data)?,
            ))
        })
        .collect::<Result<_, safetensors::SafeTensorError>>()?;
    let bytes = safetensors::serialize(views, Some(metadata))?;
    write_atomic(path, &bytes)
}

/// Writes a file atomically ([`mmtool_data::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    mmtool_data::write_atomic(path, bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// A safetensors file read into memory.
pub(crate) struct Loaded {
    pub metadata: HashMap<String, String>,
    tensors: HashMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    path: PathBuf,
}

impl Loaded {
    pub fn read(path: &Path) -> Result<Self> {
        let bytes =
            std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .with_context(|| format!("{}: not a safetensors file", path.display()))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes)
            .with_context(|| format!("{}: corrupt safetensors", path.display()))?;
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
            .collect();
        Ok(Loaded {
            metadata,
            tensors,
            path: path.to_path_buf(),
        })
    }

    pub fn meta(&self, key: &str) -> Result<&str> {
        self.metadata
            .get(key)
            .map(String::as_str)
            .with_context(|| format!("{}: metadata {key:?} is missing", self.path.display()))
    }

    fn get(&self, name: &str, dtype: Dtype) -> Result<(&[usize], &[u8])> {
        let (dt, shape, data) = self
            .tensors
            .get(name)
            .with_context(|| format!("{}: tensor {name:?} is missing", self.path.display()))?;
        if *dt != dtype {
            anyhow::bail!(
                "{}: tensor {name:?} is {dt:?}, expected {dtype:?}",
                self.path.display()
            );
        }
        Ok((shape, data))
    }

    /// A 2-D f32 tensor as (rows, cols, row-major data).
    pub fn matrix(&self, name: &str) -> Result<(usize, usize, Vec<f32>)> {
        let (shape, data) = self.get(name, Dtype::F32)?;
        if shape.len() != 2 {
            anyhow::bail!(
                "{}: tensor {name:?} has shape {shape:?}, expected 2-D",
                self.path.display()
            );
        }
        let v = data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Ok((shape[0], shape[1], v))
    }

    /// Names of the tensors in the file, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tensors.keys().cloned().collect();
        v.sort();
        v
    }

    pub fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        let (_, data) = self.get(name, Dtype::U64)?;
        Ok(data
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect())
    }
}

/// Embeddings of every text seen so far, keyed by the text's hash. Saved
/// when new texts were embedded.
pub struct EmbeddingStore {
    path: PathBuf,
    model_id: String,
    dim: usize,
    rows: HashMap<u64, usize>,
    hashes: Vec<u64>,
    data: Vec<f32>,
    dirty: bool,
}

impl EmbeddingStore {
    /// Opens the store for `model_id` (an unreadable or foreign file is
    /// ignored with a warning and rebuilt: it only holds derived data).
    pub fn open(path: &Path, model_id: &str, dim: usize) -> Self {
        let mut s = EmbeddingStore {
            path: path.to_path_buf(),
            model_id: model_id.into(),
            dim,
            rows: HashMap::new(),
            hashes: Vec::new(),
            data: Vec::new(),
            dirty: false,
        };
        if path.exists() {
            match Self::read(path, model_id, dim) {
                Ok((hashes, data)) => {
                    s.rows = hashes.iter().enumerate().map(|(i, &h)| (h, i)).collect();
                    s.hashes = hashes;
                    s.data = data;
                }
                Err(e) => tracing::warn!("ignoring embedding cache: {e:#}"),
            }
        }
        s
    }

    fn read(path: &Path, model_id: &str, dim: usize) -> Result<(Vec<u64>, Vec<f32>)> {
        let f = Loaded::read(path)?;
        if f.meta("model")? != model_id {
            anyhow::bail!("{}: made with another model", path.display());
        }
        let hashes = f.u64s("hashes")?;
        let (n, d, data) = f.matrix("embeddings")?;
        if d != dim || n != hashes.len() {
            anyhow::bail!(
                "{}: shape {n}x{d} does not match {} hashes of dim {dim}",
                path.display(),
                hashes.len()
            );
        }
        Ok((hashes, data))
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Row-major embeddings of `texts`, embedding (with a progress bar) only
    /// those not already stored.
    pub fn get_or_embed(&mut self, model: &MiniLm, texts: &[&str], what: &str) -> Result<Vec<f32>> {
        let mut missing: Vec<&str> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for t in texts {
            let h = fnv1a(t.as_bytes());
            if !self.rows.contains_key(&h) && seen.insert(h) {
                missing.push(t);
            }
        }
        if !missing.is_empty() {
            let e = if missing.len() > 64 {
                model.embed_with_progress(&missing, what)?
            } else {
                model.embed(&missing)?
            };
            for (i, t) in missing.iter().enumerate() {
                let h = fnv1a(t.as_bytes());
                self.rows.insert(h, self.hashes.len());
                self.hashes.push(h);
                self.data
                    .extend_from_slice(&e[i * self.dim..(i + 1) * self.dim]);
            }
            self.dirty = true;
        }
        let mut out = Vec::with_capacity(texts.len() * self.dim);
        for t in texts {
            let r = self.rows[&fnv1a(t.as_bytes())];
            out.extend_from_slice(&self.data[r * self.dim..(r + 1) * self.dim]);
        }
        Ok(out)
    }

    /// Writes the store if it changed.
    pub fn save(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let meta = HashMap::from([("model".to_string(), self.model_id.clone())]);
        write_safetensors(
            &self.path,
            &[
                Raw {
                    name: "hashes",
                    dtype: Dtype::U64,
                    shape: vec![self.hashes.len()],
                    data: u64_bytes(&self.hashes),
                },
                Raw {
                    name: "embeddings",
                    dtype: Dtype::F32,
                    shape: vec![self.hashes.len(), self.dim],
                    data: f32_bytes(&self.data),
                },
            ],
            meta,
        )?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minilm::tests::tiny;

    #[test]
    fn store_embeds_once_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("emb.safetensors");
        let m = tiny();
        let mut s = EmbeddingStore::open(&p, "tiny", m.dim());
        let a = s
            .get_or_embed(&m, &["translate text", "photo", "translate text"], "t")
            .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(a[..m.dim()], a[2 * m.dim()..]);
        s.save().unwrap();
        let mut back = EmbeddingStore::open(&p, "tiny", m.dim());
        assert_eq!(back.len(), 2);
        assert_eq!(
            back.get_or_embed(&m, &["photo"], "t").unwrap(),
            a[m.dim()..2 * m.dim()]
        );
        assert!(!back.dirty, "nothing new was embedded");
        // Another model's file is ignored, not trusted.
        assert!(EmbeddingStore::open(&p, "other", m.dim()).is_empty());
    }

    #[test]
    fn corrupt_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, b"not safetensors").unwrap();
        let err = Loaded::read(&p).err().unwrap().to_string();
        assert!(err.contains("bad.safetensors"), "{err}");
        assert!(EmbeddingStore::open(&p, "tiny", 8).is_empty());
    }
}
