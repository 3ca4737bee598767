//! `mmtool train`: LoRA-train the MLLM backend's adapter.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mmtool_data::Modality;
use mmtool_encoders::Perceiver;
use mmtool_llm::backend::{MllmOptions, MllmRecommender};
use mmtool_llm::train::{self, TrainConfig};

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
    /// Do not train: only (re)compute the calibration file (`null_scores.json`: each catalog
    /// tool's likelihood for an empty request, per modality) for the adapter already in the
    /// config's output_dir. Training writes it at the end anyway.
    #[arg(long, conflicts_with = "resume")]
    pub calibration_only: bool,
}

pub fn run(ctx: &Context, a: TrainArgs) -> Result<ExitCode> {
    let cfg = TrainConfig::load(&a.config)?;
    if a.calibration_only {
        write_null_scores(ctx, &cfg.output_dir)?;
        return Ok(ExitCode::SUCCESS);
    }
    // The frozen encoders, loaded only when the config names media files;
    // the embedding cache means a rerun (or --resume) encodes nothing again.
    let perceiver = Perceiver::with_default_caches();
    let features = |path: &Path, modality: Modality| -> Result<Vec<f32>> {
        perceiver.perceive(path, Some(modality))?.media_features()
    };
    let out = train::run(cfg, &ctx.data_dir()?, a.resume, Some(&features))?;
    eprintln!("adapter written to {}", out.display());
    write_null_scores(ctx, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// The calibrated mllm backend scores a tool against its likelihood for an
/// empty request; computing those for the whole catalog once here (223 s on
/// the 2-core machine) spares every later request that pass.
fn write_null_scores(ctx: &Context, adapter: &Path) -> Result<()> {
    let t = std::time::Instant::now();
    let r = MllmRecommender::build(
        ctx.catalog()?,
        &MllmOptions {
            adapter: Some(adapter.to_path_buf()),
            ..Default::default()
        },
    )?
    .with_calibration(true);
    r.precompute_null_scores()?;
    let p = r.save_null_scores(adapter)?;
    eprintln!(
        "calibration scores written to {} in {:.0}s",
        p.display(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
