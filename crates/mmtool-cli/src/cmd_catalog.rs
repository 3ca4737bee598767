//! `mmtool catalog ...`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::Subcommand;
use mmtool_catalog::{Catalog, ToolCard, CATALOG_FILE};
use mmtool_data::Modality;
use mmtool_recommend::Query;

use crate::backends::Context;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// List tools, optionally filtered by task and input modality.
    List {
        /// HuggingFace pipeline tag, e.g. translation.
        #[arg(long)]
        task: Option<String>,
        /// Input modality: text, image, audio or video.
        #[arg(long)]
        modality: Option<Modality>,
        /// Print JSON lines (full cards).
        #[arg(long)]
        json: bool,
    },
    /// Show one tool's card.
    Show {
        /// The tool's hub id, e.g. openai/whisper-base.
        id: String,
    },
    /// Search the catalog's cards (BM25 over card text only).
    Search {
        /// Words to look for.
        query: String,
        /// How many results.
        #[arg(long, short = 'k', default_value_t = 10)]
        top_k: usize,
    },
    /// Add tools from a JSON file (one card object, a list of cards, or JSON
    /// lines). Every card is checked (fields, hub-id format, duplicate ids)
    /// before anything is written; the catalog file in the data directory is
    /// then replaced atomically and the retrieval index refreshed.
    Add {
        /// The card file. Fields: id, task, domain, input_modality,
        /// output_modality, summary, api_call; optional languages, tags, confidence.
        #[arg(value_name = "CARD.json")]
        card: PathBuf,
        /// Do not refresh the retrieval index (it is then rebuilt on next use).
        #[arg(long)]
        no_index: bool,
    },
    /// Remove a tool by id (atomic rewrite of the catalog, index refreshed).
    Remove {
        /// The tool's hub id.
        id: String,
        /// Do not refresh the retrieval index.
        #[arg(long)]
        no_index: bool,
    },
}

/// Reads cards from a file holding one object, a list, or JSON lines.
fn read_cards(path: &Path) -> Result<Vec<ToolCard>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read card file", path.display()))?;
    // One JSON document (a card or a list of cards), else JSON lines.
    let cards: Vec<ToolCard> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v @ serde_json::Value::Array(_)) => serde_json::from_value(v)
            .with_context(|| format!("{}: not a list of tool cards", path.display()))?,
        Ok(v) => vec![serde_json::from_value(v)
            .with_context(|| format!("{}: not a tool card", path.display()))?],
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| {
                serde_json::from_str::<ToolCard>(l)
                    .with_context(|| format!("{}:{}: not a tool card", path.display(), i + 1))
            })
            .collect::<Result<_>>()?,
    };
    if cards.is_empty() {
        anyhow::bail!("{}: no tool cards in the file", path.display());
    }
    Ok(cards)
}

/// Refreshes the retrieval index after an edit, when the model is present.
fn refresh_index(ctx: &Context, catalog: &Catalog) -> Result<()> {
    let cfg = mmtool_retrieval::RetrievalConfig::default();
    if !cfg.model_dir.join(".complete").exists() {
        eprintln!(
            "note: MiniLM weights not found in {}; the retrieval index will be built on first use",
            cfg.model_dir.display()
        );
        return Ok(());
    }
    let model = mmtool_retrieval::MiniLm::load(&cfg.model_dir)?;
    let training = ctx.training_items()?;
    // Unchanged tools keep their vectors (from the cached or the shipped
    // index); only new or edited cards are embedded.
    let (ix, _) = mmtool_retrieval::CardIndex::load_shipped_or_build(
        &cfg.cache_dir,
        cfg.shipped_index_dir.as_deref(),
        &model,
        catalog,
        &training,
        &cfg.index,
    )?;
    eprintln!("retrieval index updated ({} tools)", ix.len());
    Ok(())
}

fn edit(
    ctx: &Context,
    no_index: bool,
    change: impl FnOnce(&mut Catalog) -> Result<String>,
) -> Result<ExitCode> {
    let path = ctx.data_dir()?.join(CATALOG_FILE);
    let mut catalog = Catalog::load(&path)?;
    let what = change(&mut catalog)?;
    catalog.save(&path)?;
    println!(
        "{what}; {} now holds {} tools",
        path.display(),
        catalog.len()
    );
    if !no_index {
        refresh_index(ctx, &catalog)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run(ctx: &Context, cmd: CatalogCommand) -> Result<ExitCode> {
    match cmd {
        CatalogCommand::Add { card, no_index } => {
            let cards = read_cards(&card)?;
            edit(ctx, no_index, |cat| {
                let ids: Vec<String> = cards.iter().map(|c| c.id.clone()).collect();
                for c in cards {
                    let id = c.id.clone();
                    cat.add(c)
                        .with_context(|| format!("{}: tool {id:?}", card.display()))?;
                }
                Ok(format!("added {}", ids.join(", ")))
            })
        }
        CatalogCommand::Remove { id, no_index } => edit(ctx, no_index, |cat| {
            if id.trim() == mmtool_catalog::UNKNOWN_ID {
                anyhow::bail!("\"unknown\" (no tool fits) cannot be removed");
            }
            let c = cat.remove(&id)?;
            Ok(format!("removed {}", c.id))
        }),
        other => view(ctx, other),
    }
}

fn view(ctx: &Context, cmd: CatalogCommand) -> Result<ExitCode> {
    let catalog = ctx.catalog()?;
    match cmd {
        CatalogCommand::List {
            task,
            modality,
            json,
        } => {
            // Written with `?` rather than println! so that `mmtool catalog list | head`
            // ends quietly (main treats a broken pipe as success) instead of panicking.
            let mut out = std::io::stdout().lock();
            let mut n = 0;
            for c in catalog.filter(task.as_deref(), modality) {
                n += 1;
                if json {
                    writeln!(out, "{}", serde_json::to_string(c)?)?;
                } else {
                    writeln!(out, "{:<60} {:<32} {}", c.id, c.task, c.input_modality)?;
                }
            }
            if !json {
                eprintln!("{n} of {} tools", catalog.len());
            }
        }
        CatalogCommand::Show { id } => match catalog.get(&id) {
            Some(c) => println!("{}", serde_json::to_string_pretty(c)?),
            None => {
                anyhow::bail!("tool {id:?} is not in the catalog (try `mmtool catalog search`)")
            }
        },
        CatalogCommand::Search { query, top_k } => {
            let bm25 = mmtool_recommend::bm25::Bm25Recommender::build(
                catalog.clone(),
                &[],
                mmtool_recommend::bm25::Bm25Config {
                    mismatch_weight: 1.0,
                    ..Default::default()
                },
            );
            let rec = mmtool_recommend::Recommender::recommend(&bm25, &Query::text(query), top_k)?;
            for (i, s) in rec.ranked.iter().enumerate() {
                let c = catalog
                    .get(&s.id)
                    .expect("ranked ids come from the catalog");
                println!("{:>3}. {:<60} {:>7.3}  {}", i + 1, c.id, s.score, c.task);
            }
        }
        CatalogCommand::Add { .. } | CatalogCommand::Remove { .. } => {
            anyhow::bail!("catalog edits are not views")
        }
    }
    Ok(ExitCode::SUCCESS)
}
