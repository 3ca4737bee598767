//! `mmtool eval`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mmtool_data::{load_items, LoadOptions};
use mmtool_eval::{evaluate, load_predictions, render_table};

use crate::backends::Context;

#[derive(Args)]
#[command(
    after_help = "Metrics (all over the gold items; missing predictions count as wrong):\n  \
accuracy            the response parses to a tool in the item's answer set\n  \
format accuracy     the response parses to one api name\n  \
hallucination rate  parsed names that are not catalog tools, over parsed responses\n  \
acc@k               an answer-set tool among the first k names of `ranked`\n                      \
(the parsed response alone when a record has no `ranked`)\n\n\
Example:\n  mmtool predict --data test.json --out preds.json && mmtool eval --gold test.json --pred preds.json"
)]
pub struct EvalArgs {
    /// ToolMMBench file with the right answers (e.g. test.json). Ids must be unique.
    #[arg(long, value_name = "FILE")]
    pub gold: PathBuf,
    /// Predictions: a JSON list of {question_id, questions, response} records as the paper's
    /// inference script writes them, optionally with "ranked": [{api_name, score}, ...].
    #[arg(long, value_name = "FILE")]
    pub pred: PathBuf,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, a: EvalArgs) -> Result<ExitCode> {
    let gold = load_items(&a.gold, LoadOptions::default())?;
    if gold.is_empty() {
        anyhow::bail!("{}: the gold file has no items", a.gold.display());
    }
    let preds = load_predictions(&a.pred)?;
    let catalog = ctx.catalog()?;
    let report = evaluate(&gold, &preds, &catalog)?;
    let text = if a.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        render_table(&report)
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
