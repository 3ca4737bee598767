//! Evaluation: the paper's metrics (accuracy, hallucination rate, format
//! accuracy) plus acc@k and breakdowns by modality, ambiguity code, answer-set
//! size and the `unknown` answer.
//!
//! A predictions file is what the paper's inference script writes (a JSON
//! list of `{question_id, questions, response}`), optionally with mmtool's
//! ranked list; [`Prediction`] is the one type for it, written by
//! `mmtool predict` and read by `mmtool eval`.

mod metrics;
mod prediction;
mod table;

pub use metrics::{evaluate, IdList, Metrics, Report, UnknownMetrics, FIRST_IDS, KS};
pub use prediction::{load_predictions, parse_predictions, Prediction, RankedName};
pub use table::render_table;

use std::path::PathBuf;

/// Errors from reading predictions or matching them to gold items.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: cannot read file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error("{path}: malformed JSON: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: expected a JSON list of prediction records at the top level")]
    NotAList { path: PathBuf },
    #[error("{path}: record #{index}: {problem}")]
    Record {
        path: PathBuf,
        /// 0-based position in the file.
        index: usize,
        problem: String,
    },
    #[error("{file}: id {id} appears twice (records #{first} and #{second}); ids must be unique")]
    DuplicateId {
        /// The file name, or `gold`/`predictions` for in-memory data.
        file: String,
        id: u64,
        first: usize,
        second: usize,
    },
    #[error("the gold set has no items")]
    NoGold,
}
