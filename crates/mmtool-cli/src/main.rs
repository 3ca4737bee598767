//! `mmtool`: recommend a machine-learning tool for a request and an optional
//! attached image, audio recording or video.

mod backends;
mod cmd_catalog;
mod cmd_data;
mod cmd_recommend;
mod cmd_train;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "mmtool",
    version,
    about = "Recommend the machine-learning model (tool) that fits a request and its attached media",
    long_about = "mmtool answers a short request, optionally with an attached image, audio recording or \
video, with the HuggingFace model that fits it, ranked with scores and a ready-to-run loading call.\n\n\
Data (the ToolMMBench catalog and instruction files) is read from --data-dir, the MMTOOL_DATA_DIR \
environment variable, or ../shared/toolmmbench."
)]
struct Cli {
    /// Directory holding catalog.jsonl and the ToolMMBench instruction files.
    #[arg(long, global = true, env = "MMTOOL_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Adapter directory for the mllm backend (default: adapters/default of this repository).
    #[arg(long, global = true, env = "MMTOOL_ADAPTER", value_name = "DIR")]
    adapter: Option<PathBuf>,

    /// mllm backend: generate freely as in the paper instead of decoding only catalog ids.
    #[arg(long, global = true)]
    unconstrained: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recommend tools for one request (the main job).
    Recommend(cmd_recommend::RecommendArgs),
    /// Write a predictions file for every item of a ToolMMBench file.
    Predict(cmd_recommend::PredictArgs),
    /// Inspect and validate ToolMMBench instruction files.
    #[command(subcommand)]
    Data(cmd_data::DataCommand),
    /// Browse and search the tool catalog.
    #[command(subcommand)]
    Catalog(cmd_catalog::CatalogCommand),
    /// Train the mllm backend's LoRA adapter and media projection.
    Train(cmd_train::TrainArgs),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MMTOOL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let ctx = backends::Context::new(cli.data_dir).with_mllm(cli.adapter, cli.unconstrained);
    let result = match cli.command {
        Command::Recommend(a) => cmd_recommend::recommend(&ctx, a),
        Command::Predict(a) => cmd_recommend::predict(&ctx, a),
        Command::Data(c) => cmd_data::run(&ctx, c),
        Command::Catalog(c) => cmd_catalog::run(&ctx, c),
        Command::Train(a) => cmd_train::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
