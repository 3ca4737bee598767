//! The tool catalog: one card per tool (`catalog.jsonl`), including the
//! special entry `unknown` (no tool fits).
//!
//! Edits (`add`, `remove`) are validated and written atomically: the new file
//! is written beside the old one and renamed over it, so a crash never leaves
//! a half-written catalog.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use mmtool_data::Modality;
use serde::{Deserialize, Serialize};

/// Catalog id of the "no tool fits" answer.
pub const UNKNOWN_ID: &str = "unknown";
/// File name of the catalog inside the data directory.
pub const CATALOG_FILE: &str = "catalog.jsonl";

/// One tool: a HuggingFace hub model, described for retrieval and display.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolCard {
    pub id: String,
    /// HuggingFace pipeline tag, e.g. `translation`.
    pub task: String,
    pub domain: String,
    pub input_modality: Modality,
    pub output_modality: String,
    #[serde(default)]
    pub languages: Vec<String>,
    pub summary: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// One line of Python that loads or calls the tool.
    pub api_call: String,
    #[serde(default = "default_confidence")]
    pub confidence: String,
}

fn default_confidence() -> String {
    "medium".into()
}

impl ToolCard {
    /// Text that describes the card for lexical or semantic retrieval.
    pub fn search_text(&self) -> String {
        let mut s = format!(
            "{} {} {}",
            self.id.replace(['/', '-', '_'], " "),
            self.task.replace('-', " "),
            self.summary
        );
        if !self.tags.is_empty() {
            s.push(' ');
            s.push_str(&self.tags.join(" "));
        }
        if !self.languages.is_empty() {
            s.push(' ');
            s.push_str(&self.languages.join(" "));
        }
        s
    }

    /// Checks the card's own fields (not uniqueness).
    pub fn validate(&self) -> Result<(), String> {
        validate_id(&self.id)?;
        for (name, v) in [
            ("task", &self.task),
            ("domain", &self.domain),
            ("output_modality", &self.output_modality),
            ("summary", &self.summary),
            ("api_call", &self.api_call),
        ] {
            if v.trim().is_empty() {
                return Err(format!("field \"{name}\" is empty"));
            }
        }
        Ok(())
    }
}

/// A hub id is `name` or `owner/name` of letters, digits, `-`, `_`, `.`.
pub fn validate_id(id: &str) -> Result<(), String> {
    if id != id.trim() {
        return Err(format!("tool id {id:?} has leading or trailing whitespace"));
    }
    let parts: Vec<&str> = id.split('/').collect();
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !p.starts_with('.')
    };
    if parts.len() > 2 || !parts.iter().all(|p| ok_part(p)) {
        return Err(format!(
            "tool id {id:?} is not a hub id (expected \"name\" or \"owner/name\" of letters, digits, '-', '_', '.')"
        ));
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: cannot read catalog: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {problem}")]
    Line {
        path: PathBuf,
        line: usize,
        problem: String,
    },
    #[error("{path}: the catalog has no entries")]
    Empty { path: PathBuf },
    #[error("{path}: cannot write catalog: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tool {0:?} is already in the catalog")]
    Duplicate(String),
    #[error("tool {0:?} is not in the catalog")]
    NotFound(String),
    #[error("invalid tool card: {0}")]
    Invalid(String),
}

/// The set of tools mmtool can recommend.
#[derive(Debug, Clone)]
pub struct Catalog {
    cards: Vec<ToolCard>,
    index: HashMap<String, usize>,
}

impl Catalog {
    /// Builds a catalog from cards, rejecting invalid cards and duplicates.
    pub fn from_cards(cards: Vec<ToolCard>) -> Result<Self, CatalogError> {
        let mut cat = Catalog {
            cards: Vec::with_capacity(cards.len()),
            index: HashMap::new(),
        };
        for c in cards {
            cat.add(c)?;
        }
        Ok(cat)
    }

    /// Reads `catalog.jsonl` (one JSON card per line; blank lines skipped).
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cat = Catalog {
            cards: Vec::new(),
            index: HashMap::new(),
        };
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let err = |problem: String| CatalogError::Line {
                path: path.to_path_buf(),
                line: i + 1,
                problem,
            };
            let card: ToolCard =
                serde_json::from_str(line).map_err(|e| err(format!("bad tool card: {e}")))?;
            card.validate().map_err(err)?;
            if cat.index.contains_key(&card.id) {
                return Err(err(format!("duplicate tool id {:?}", card.id)));
            }
            cat.index.insert(card.id.clone(), cat.cards.len());
            cat.cards.push(card);
        }
        if cat.cards.is_empty() {
            return Err(CatalogError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(cat)
    }

    /// Loads `catalog.jsonl` from a data directory.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogError> {
        Self::load(&dir.join(CATALOG_FILE))
    }

    pub fn len(&self) -> usize {
        self.cards.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cards.is_empty()
    }

    pub fn cards(&self) -> &[ToolCard] {
        &self.cards
    }

    /// Looks a tool up by id; surrounding whitespace is ignored.
    pub fn get(&self, id: &str) -> Option<&ToolCard> {
        self.index.get(id.trim()).map(|&i| &self.cards[i])
    }

    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id.trim())
    }

    /// Position of a tool in [`Catalog::cards`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id.trim()).copied()
    }

    /// Adds a validated card with a new id.
    pub fn add(&mut self, card: ToolCard) -> Result<(), CatalogError> {
        card.validate().map_err(CatalogError::Invalid)?;
        if self.index.contains_key(&card.id) {
            return Err(CatalogError::Duplicate(card.id));
        }
        self.index.insert(card.id.clone(), self.cards.len());
        self.cards.push(card);
        Ok(())
    }

    /// Removes a tool and returns its card.
    pub fn remove(&mut self, id: &str) -> Result<ToolCard, CatalogError> {
        let pos = self
            .index
            .remove(id.trim())
            .ok_or_else(|| CatalogError::NotFound(id.trim().to_string()))?;
        let card = self.cards.remove(pos);
        for v in self.index.values_mut() {
            if *v > pos {
                *v -= 1;
            }
        }
        Ok(card)
    }

    /// Writes the catalog as JSON lines, atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> Result<(), CatalogError> {
        let werr = |source| CatalogError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(werr)?;
        {
            let mut w = std::io::BufWriter::new(tmp.as_file_mut());
            for c in &self.cards {
                serde_json::to_writer(&mut w, c).map_err(|e| werr(e.into()))?;
                w.write_all(b"\n").map_err(werr)?;
            }
            w.flush().map_err(werr)?;
        }
        tmp.as_file().sync_all().map_err(werr)?;
        tmp.persist(path).map_err(|e| werr(e.error))?;
        Ok(())
    }

    /// Cards matching optional task and input-modality filters.
    pub fn filter<'a>(
        &'a self,
        task: Option<&'a str>,
        modality: Option<Modality>,
    ) -> impl Iterator<Item = &'a ToolCard> + 'a {
        self.cards.iter().filter(move |c| {
            task.is_none_or(|t| c.task.eq_ignore_ascii_case(t))
                && modality.is_none_or(|m| c.input_modality == m)
        })
    }

    /// A cheap content fingerprint (FNV-1a over ids and card text), used to
    /// tell when derived indexes must be rebuilt.
    pub fn fingerprint(&self) -> u64 {
        let mut h: u64 = 0xcbf29ce484222325;
        for c in &self.cards {
            for b in serde_json::to_vec(c).unwrap_or_default() {
                h ^= b as u64;
                h = h.wrapping_mul(0x100000001b3);
            }
        }
        h
    }
}

/// A seeded random `share` of the catalog's tools (never `unknown`).
pub fn holdout_tools(
    catalog: &Catalog,
    share: f64,
    seed: u64,
) -> std::collections::HashSet<String> {
    let mut ids: Vec<&str> = catalog
        .cards()
        .iter()
        .map(|c| c.id.as_str())
        .filter(|id| *id != UNKNOWN_ID)
        .collect();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(seed);
    rand::seq::SliceRandom::shuffle(ids.as_mut_slice(), &mut rng);
    let n = ((ids.len() as f64) * share).round() as usize;
    ids.into_iter().take(n).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn card(id: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: "translation".into(),
            domain: "Natural Language Processing".into(),
            input_modality: Modality::Text,
            output_modality: "text".into(),
            languages: vec!["en".into(), "de".into()],
            summary: "Translates English to German.".into(),
            tags: vec!["mt".into()],
            api_call: format!("pipeline('translation', model='{id}')"),
            confidence: "high".into(),
        }
    }

    #[test]
    fn ids_are_validated() {
        for ok in ["t5-base", "facebook/m2m100_418M", "a.b/c-d_e"] {
            validate_id(ok).unwrap();
        }
        for bad in ["", " t5", "a/b/c", "a b", "a/", "/x", "x/../y"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn add_remove_lookup_and_save_round_trip() {
        let mut cat = Catalog::from_cards(vec![card("a/x"), card("b/y"), card("c/z")]).unwrap();
        assert!(matches!(
            cat.add(card("a/x")),
            Err(CatalogError::Duplicate(_))
        ));
        assert!(cat.contains(" b/y "));
        let removed = cat.remove("b/y").unwrap();
        assert_eq!(removed.id, "b/y");
        assert_eq!(cat.get("c/z").unwrap().id, "c/z");
        assert_eq!(cat.position("c/z"), Some(1));
        assert!(matches!(cat.remove("b/y"), Err(CatalogError::NotFound(_))));

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CATALOG_FILE);
        cat.save(&p).unwrap();
        let back = Catalog::load(&p).unwrap();
        assert_eq!(back.cards(), cat.cards());
        assert_eq!(back.fingerprint(), cat.fingerprint());
    }

    #[test]
    fn load_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.jsonl");
        let good = serde_json::to_string(&card("a/x")).unwrap();
        for (content, want) in [
            (format!("{good}\n{{oops\n"), ":2: bad tool card"),
            (format!("{good}\n{good}\n"), ":2: duplicate tool id"),
            ("\n\n".to_string(), "no entries"),
            (good.replace("a/x", "a b"), ":1: tool id"),
            (good.replace("\"task\"", "\"taks\""), ":1: bad tool card"),
        ] {
            std::fs::write(&p, content).unwrap();
            let msg = Catalog::load(&p).unwrap_err().to_string();
            assert!(msg.contains("c.jsonl") && msg.contains(want), "{msg}");
        }
    }

    #[test]
    fn filter_by_task_and_modality() {
        let mut img = card("v/i");
        img.task = "image-classification".into();
        img.input_modality = Modality::Image;
        let cat = Catalog::from_cards(vec![card("a/x"), img]).unwrap();
        assert_eq!(cat.filter(Some("translation"), None).count(), 1);
        assert_eq!(
            cat.filter(None, Some(Modality::Image)).next().unwrap().id,
            "v/i"
        );
        assert_eq!(
            cat.filter(Some("translation"), Some(Modality::Image))
                .count(),
            0
        );
    }

    #[test]
    fn search_text_covers_fields() {
        let t = card("facebook/wmt19-en-de").search_text();
        for w in ["facebook", "wmt19", "translation", "German", "mt", "de"] {
            assert!(t.contains(w), "{t}");
        }
    }
}
