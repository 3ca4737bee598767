//! What every recommender backend implements, and the BM25 baseline.
//!
//! A backend takes a [`Query`] (instruction, input modality, optional media
//! file) and returns catalog tools ranked best first. Backends are built by
//! the CLI/server from a name, so this crate knows nothing about the heavier
//! model crates.

pub mod bm25;
pub mod language;
mod response;

pub use response::{format_response, parse_response};

use std::path::PathBuf;
use std::sync::Arc;

use mmtool_catalog::Catalog;
use mmtool_data::{Item, Modality};
use serde::{Deserialize, Serialize};

/// One request to recommend a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub instruction: String,
    /// What is attached. A query can carry a modality without a file (the
    /// test set's media files are not distributed), in which case backends
    /// use the modality alone.
    pub modality: Modality,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<PathBuf>,
    /// What the frozen encoders made of the attached file, in the layout
    /// the MLLM's media projection reads (`mmtool_encoders::MEDIA_DIM`);
    /// `None` when nothing is attached or it was not encoded.
    #[serde(default, skip)]
    pub media_features: Option<Vec<f32>>,
    /// Words the encoders found for what the text leaves open (e.g. `German
    /// audio`); the text backends read them with the instruction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_hint: Option<String>,
    /// A less certain reading of the media (e.g. `German audio` when the
    /// spoken language is likely but not sure). Never used to rank; a
    /// first stage may widen its shortlist with it, so that a later stage
    /// that sees the media itself can choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shortlist_hint: Option<String>,
}

impl Query {
    /// The text a text backend ranks with: the instruction, followed by the
    /// media hint in brackets when there is one.
    pub fn ranking_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.media_hint {
            Some(h) => format!("{} ({h})", self.instruction).into(),
            None => self.instruction.as_str().into(),
        }
    }

    pub fn text(instruction: impl Into<String>) -> Self {
        Query {
            instruction: instruction.into(),
            modality: Modality::Text,
            media: None,
            media_features: None,
            media_hint: None,
            shortlist_hint: None,
        }
    }

    /// A query for a dataset item; the media file is not attached (dataset
    /// paths point into a media root that is not part of the release).
    pub fn from_item(item: &Item) -> Self {
        Query {
            instruction: item.instruction.clone(),
            modality: item.modality,
            media: None,
            media_features: None,
            media_hint: None,
            shortlist_hint: None,
        }
    }
}

/// A catalog tool with the backend's score (higher is better; scales differ
/// between backends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub id: String,
    pub score: f32,
}

/// A backend's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// Best first; at most the requested number.
    pub ranked: Vec<Scored>,
    /// The backend's raw text answer, when it generates one (the paper's
    /// `{'api_name': ...}`); otherwise built from the top tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// What the encoders found in the media (language, labels ...), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub findings: Option<serde_json::Value>,
}

impl Recommendation {
    pub fn top(&self) -> Option<&Scored> {
        self.ranked.first()
    }

    /// The paper-format response text for the predictions file.
    pub fn response_text(&self) -> String {
        match (&self.raw, self.top()) {
            (Some(raw), _) => raw.clone(),
            (None, Some(top)) => format_response(&top.id),
            (None, None) => String::new(),
        }
    }

    /// Sets the findings to what the encoders found in the media, keeping
    /// the backend's own notes (fields of its findings object) on top.
    pub fn add_encoder_findings(&mut self, mut encoders: serde_json::Value) {
        if let (Some(obj), Some(serde_json::Value::Object(own))) =
            (encoders.as_object_mut(), self.findings.take())
        {
            obj.extend(own);
        }
        self.findings = Some(encoders);
    }
}

/// The union of two shortlists, each tool once with its higher score, best
/// first (ties keep `a`'s order, then `b`'s).
pub fn merge_shortlists(a: Vec<Scored>, b: Vec<Scored>) -> Vec<Scored> {
    let mut out: Vec<Scored> = Vec::with_capacity(a.len() + b.len());
    for s in a.into_iter().chain(b) {
        match out.iter_mut().find(|o| o.id == s.id) {
            Some(o) => o.score = o.score.max(s.score),
            None => out.push(s),
        }
    }
    out.sort_by(|x, y| y.score.total_cmp(&x.score));
    out
}

/// A tool-recommendation backend.
pub trait Recommender: Send + Sync {
    /// Short name, as given to `--backend`.
    fn name(&self) -> &str;
    /// The catalog the backend ranks over.
    fn catalog(&self) -> &Arc<Catalog>;
    /// The `k` best catalog tools for a query.
    fn recommend(&self, query: &Query, k: usize) -> anyhow::Result<Recommendation>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ranking_text_carries_the_media_hint() {
        let mut q = Query::text("what is being said?");
        assert_eq!(q.ranking_text(), "what is being said?");
        q.media_hint = Some("German audio".into());
        assert_eq!(q.ranking_text(), "what is being said? (German audio)");
    }

    #[test]
    fn encoder_findings_keep_the_backends_own_notes() {
        let mut r = Recommendation {
            findings: Some(serde_json::json!({"media_token": "used"})),
            ..Recommendation::default()
        };
        r.add_encoder_findings(serde_json::json!({"languages": [["de", 0.9]]}));
        let f = r.findings.unwrap();
        assert_eq!(f["media_token"], "used");
        assert_eq!(f["languages"][0][0], "de");
        let mut r = Recommendation::default();
        r.add_encoder_findings(serde_json::json!({"labels": []}));
        assert_eq!(r.findings.unwrap(), serde_json::json!({"labels": []}));
    }

    #[test]
    fn merged_shortlists_hold_each_tool_once_with_its_best_score() {
        let s = |id: &str, score: f32| Scored {
            id: id.into(),
            score,
        };
        let m = merge_shortlists(
            vec![s("a", 0.9), s("b", 0.5), s("unknown", 0.35)],
            vec![s("c", 0.8), s("b", 0.7)],
        );
        let got: Vec<(&str, f32)> = m.iter().map(|x| (x.id.as_str(), x.score)).collect();
        assert_eq!(
            got,
            vec![("a", 0.9), ("c", 0.8), ("b", 0.7), ("unknown", 0.35)]
        );
        assert!(merge_shortlists(Vec::new(), Vec::new()).is_empty());
    }
}
