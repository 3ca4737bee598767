//! `mmtool catalog ...`.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
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
}

pub fn run(ctx: &Context, cmd: CatalogCommand) -> Result<ExitCode> {
    let catalog = ctx.catalog()?;
    match cmd {
        CatalogCommand::List {
            task,
            modality,
            json,
        } => {
            let mut n = 0;
            for c in catalog.filter(task.as_deref(), modality) {
                n += 1;
                if json {
                    println!("{}", serde_json::to_string(c)?);
                } else {
                    println!("{:<60} {:<32} {}", c.id, c.task, c.input_modality);
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
    }
    Ok(ExitCode::SUCCESS)
}
