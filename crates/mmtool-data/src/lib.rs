//! ToolMMBench data layer.
//!
//! Reads the released instruction format (training files with one answer,
//! test files with answer lists) into [`Item`]s, normalising the quirks that
//! the release carries (see `shared/toolmmbench/README.md`):
//! string-or-list answers, stray whitespace in ids and instructions, the
//! ambiguity code as an integer or a string, extra fields.
//!
//! Every error names the file and the item (index and id) it came from.

mod atomic;
mod item;
mod modality;
mod paths;
pub mod runtime;

pub use atomic::write_atomic;
pub use item::{load_items, parse_items, Item, LoadOptions};
pub use modality::Modality;
pub use paths::{cache_dir, resolve_data_dir, CACHE_DIR_ENV, DATA_DIR_ENV, DEFAULT_DATA_DIR};
pub use runtime::fix_thread_count;

use std::path::PathBuf;

/// Errors from reading ToolMMBench files. Each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: malformed JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: expected a JSON list of items at the top level, found {found}")]
    NotAList { path: PathBuf, found: &'static str },
    #[error("{path}: item #{index}{id}: {problem}", id = fmt_id(*.id))]
    Item {
        path: PathBuf,
        /// 0-based position in the file.
        index: usize,
        id: Option<u64>,
        problem: String,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("data directory {path} does not exist; pass --data-dir or set {env}", env = DATA_DIR_ENV)]
    NoDataDir { path: PathBuf },
}

fn fmt_id(id: Option<u64>) -> String {
    match id {
        Some(id) => format!(" (id {id})"),
        None => String::new(),
    }
}
