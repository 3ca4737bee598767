//! Synthetic training media for ToolMMBench items that have an input
//! modality but no file: speech through espeak-ng, ControlNet-style
//! condition maps and degraded photos rendered from base photographs, so
//! that the media projection can be trained on real encoder features.
//!
//! The work is split in two: [`plan::build_plan`] decides, from a seed,
//! which items get media and exactly what (language, sentence, voice; base
//! photo, picture kind, size; train or eval), and [`output`] renders the
//! files and writes `train.json`, `eval.json` and `manifest.json`. Eval
//! items use base photos and sentences no train item uses.

pub mod draw;
pub mod kind;
pub mod lang;
pub mod output;
pub mod plan;
pub mod render;
pub mod speech;

use std::path::Path;

use anyhow::{Context, Result};
use mmtool_data::{load_items, LoadOptions};

pub use plan::{build_plan, Entry, Plan, PlanOptions, Source, Split, SOURCE_FILES};

/// Reads the training files media is rendered for ([`SOURCE_FILES`]) from
/// the ToolMMBench folder.
pub fn load_sources(data_dir: &Path) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for file in SOURCE_FILES {
        let path = data_dir.join(file);
        let items = load_items(&path, LoadOptions::default())
            .with_context(|| format!("loading training items from {}", data_dir.display()))?;
        out.extend(items.into_iter().map(|item| Source {
            file: file.to_string(),
            item,
        }));
    }
    Ok(out)
}
