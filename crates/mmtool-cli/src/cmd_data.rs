//! `mmtool data check` and `mmtool data synth-media`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use mmtool_data::{load_items, LoadOptions};

use crate::backends::Context;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Validate ToolMMBench files against the catalog and print a summary
    /// (items per modality, ambiguity codes, answer-set sizes, unknown tool ids).
    /// Exits 1 if any file is invalid or names a tool that is not in the catalog.
    Check {
        /// Files to check.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Render synthetic training media (espeak-ng speech, ControlNet condition maps,
    /// degraded and plain photos) for training items that have none, into train.json and
    /// eval.json with their files.
    #[command(long_about = crate::cmd_synth::LONG_ABOUT)]
    SynthMedia(crate::cmd_synth::SynthMediaArgs),
}

pub fn run(ctx: &Context, cmd: DataCommand) -> Result<ExitCode> {
    let (files, json) = match cmd {
        DataCommand::Check { files, json } => (files, json),
        DataCommand::SynthMedia(a) => return crate::cmd_synth::run(ctx, a),
    };
    let catalog = ctx.catalog()?;
    let mut ok = true;
    let mut reports = Vec::new();
    for f in &files {
        let items = match load_items(f, LoadOptions::default()) {
            Ok(items) => items,
            Err(e) => {
                eprintln!("error: {e}");
                ok = false;
                reports.push(serde_json::json!({"file": f, "error": e.to_string()}));
                continue;
            }
        };
        let mut by_modality = BTreeMap::<String, usize>::new();
        let mut by_ambiguity = BTreeMap::<i32, usize>::new();
        let mut by_answers = BTreeMap::<usize, usize>::new();
        let mut not_in_catalog = BTreeMap::<String, Vec<u64>>::new();
        for it in &items {
            *by_modality.entry(it.modality.to_string()).or_default() += 1;
            *by_ambiguity.entry(it.ambiguity).or_default() += 1;
            *by_answers.entry(it.answers.len()).or_default() += 1;
            for a in &it.answers {
                if !catalog.contains(a) {
                    not_in_catalog.entry(a.clone()).or_default().push(it.id);
                }
            }
        }
        if !not_in_catalog.is_empty() {
            ok = false;
        }
        if !json {
            println!("{}: {} items", f.display(), items.len());
            println!("  modality:    {}", fmt_map(&by_modality));
            println!("  ambiguity:   {}", fmt_map(&by_ambiguity));
            println!("  answer sets: {}", fmt_map(&by_answers));
            if not_in_catalog.is_empty() {
                println!("  all answers are catalog tools");
            } else {
                println!("  {} tool ids not in the catalog:", not_in_catalog.len());
                for (id, ids) in &not_in_catalog {
                    let shown: Vec<String> = ids.iter().take(5).map(u64::to_string).collect();
                    println!(
                        "    {id:?} (items {}{})",
                        shown.join(", "),
                        if ids.len() > 5 { ", ..." } else { "" }
                    );
                }
            }
        }
        reports.push(serde_json::json!({
            "file": f, "items": items.len(), "by_modality": by_modality,
            "by_ambiguity": by_ambiguity, "answer_set_sizes": by_answers,
            "not_in_catalog": not_in_catalog,
        }));
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn fmt_map<K: std::fmt::Display>(m: &BTreeMap<K, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
