//! `mmtool train`: LoRA-train the MLLM backend's adapter.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mmtool_data::Modality;
use mmtool_encoders::Perceiver;
use mmtool_llm::train::{self, TrainConfig};
use mmtool_media::Limits;

use crate::backends::Context;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  mmtool train --config configs/stage1.toml    # text only\n  \
mmtool data synth-media && mmtool train --config configs/default.toml    # + rendered media\n\n\
The config (TOML) names the backbone, training files (inside the data directory; test.json is refused), \
LoRA settings, learning-rate schedule, epochs, batch size, gradient accumulation, seed, checkpoint \
interval and output directory; media_files (items with media files, e.g. synth-media's train.json, run \
through the frozen encoders, whose features train the media projection) and init_from (start from \
another adapter's weights). See configs/default.toml for every key with comments."
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
    // The frozen encoders, loaded only when the config names media files;
    // the embedding cache means a rerun (or --resume) encodes nothing again.
    let perceiver = Perceiver::new(Perceiver::default_cache_dir(), Limits::default())
        .with_embedding_cache(Perceiver::default_embedding_cache());
    let features = |path: &Path, modality: Modality| -> Result<Vec<f32>> {
        perceiver.perceive(path, Some(modality))?.media_features()
    };
    let out = train::run(cfg, &ctx.data_dir()?, a.resume, Some(&features))?;
    eprintln!("adapter written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
