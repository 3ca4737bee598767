//! `mmtool train`: LoRA-train the MLLM backend's adapter.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mmtool_llm::train::{self, TrainConfig};

use crate::backends::Context;

#[derive(Args)]
#[command(
    after_help = "Example:\n  mmtool train --config configs/default.toml\n\n\
The config (TOML) names the backbone, training files (inside the data directory; test.json is refused), \
LoRA settings, learning-rate schedule, epochs, batch size, gradient accumulation, seed, checkpoint \
interval and output directory. See configs/default.toml for every key with comments."
)]
pub struct TrainArgs {
    /// Training configuration (TOML).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Continue the run saved in the config's output_dir exactly where it stopped
    /// (optimizer state, data order and step).
    #[arg(long)]
    pub resume: bool,
}

pub fn run(ctx: &Context, a: TrainArgs) -> Result<ExitCode> {
    let cfg = TrainConfig::load(&a.config)?;
    let out = train::run(cfg, &ctx.data_dir()?, a.resume)?;
    eprintln!("adapter written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
