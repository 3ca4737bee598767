//! `mmtool data synth-media`: render synthetic media for training items.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmtool_synth::output::{counts, list_photos, render_media, write_files};
use mmtool_synth::speech::Espeak;
use mmtool_synth::{build_plan, load_sources, PlanOptions};

use crate::backends::Context;

/// The `--help` text (set on the `DataCommand` variant, whose doc comment
/// would otherwise replace it).
pub const LONG_ABOUT: &str =
    "Render synthetic media files for ToolMMBench training items that name an \
input modality but have no file, so that the media projection can be trained on real encoder \
features (EfficientNet-Lite0 for images, Whisper-base and its language ID for audio).\n\n\
What is rendered, for items of train_synth.json and train_audio.json (never test.json):\n\
  - speech (audio items whose language is known from the released file's folder, e.g. \
germanphrases/, common_voice_vi/, or from a language named in media_description): a sentence \
in that language spoken by espeak-ng with a seeded voice, speed and pitch;\n\
  - condition maps (image items answered by a ControlNet): canny edges, depth, normal and \
segmentation maps, SAM masks, OpenPose skeletons, face meshes, M-LSD lines, scribbles, soft \
edges, line art, QR codes... drawn from a base photograph (or a photo, when the item's \
description says the user attaches one);\n\
  - degraded photos (items answered by super-resolution, deblurring, dehazing, deraining or \
restoration models): small, blurred, hazy, rainy, noisy or JPEG-damaged;\n\
  - plain photos for a sample of the other image items.\n\
Picks are balanced by answer tool. About --eval-share of the items are held out in eval.json; \
they use base photos and sentences that no train item uses.\n\n\
Writes into --out: train.json and eval.json (ToolMMBench format; media paths relative to the \
folder, plus `synth` saying what was rendered and `source` naming the original item), \
manifest.json, audio/ and image/. The same seed and options give identical files; existing \
renders are kept unless --force, and media files of earlier plans in audio/ and image/ are \
removed. Needs espeak-ng (Debian package) and the base photos of scripts/fetch-test-images.sh.";

#[derive(Args)]
pub struct SynthMediaArgs {
    /// Output folder [default: $MMTOOL_CACHE/synth-media, i.e. ~/.cache/mmtool/synth-media].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Folder of base photographs (png/jpg) [default: $MMTOOL_CACHE/testdata/skimage-all,
    /// filled by scripts/fetch-test-images.sh].
    #[arg(long, value_name = "DIR")]
    photos: Option<PathBuf>,
    /// Seed of every choice (items, sentences, voices, photos, crops, split).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Most speech clips.
    #[arg(long, value_name = "N", default_value_t = 400)]
    max_speech: usize,
    /// Most images (condition maps, degraded and plain photos together; plain photos get
    /// at most a fifth and never more than 150).
    #[arg(long, value_name = "N", default_value_t = 700)]
    max_images: usize,
    /// Share of the rendered items held out in eval.json.
    #[arg(long, value_name = "SHARE", default_value_t = 0.12)]
    eval_share: f64,
    /// Render every file again even if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(ctx: &Context, a: SynthMediaArgs) -> Result<ExitCode> {
    if !(0.0..1.0).contains(&a.eval_share) {
        bail!("--eval-share must be in [0, 1), got {}", a.eval_share);
    }
    let t0 = Instant::now();
    let cache = mmtool_data::cache_dir();
    let out = a.out.unwrap_or_else(|| cache.join("synth-media"));
    let photos_dir = a
        .photos
        .unwrap_or_else(|| cache.join("testdata/skimage-all"));
    let photos = list_photos(&photos_dir)?;
    let data_dir = ctx.data_dir()?;
    let sources = load_sources(&data_dir)?;
    let catalog = ctx.catalog()?;
    let defaults = PlanOptions::default();
    let opts = PlanOptions {
        seed: a.seed,
        max_speech: a.max_speech,
        max_images: a.max_images,
        max_plain: defaults.max_plain.min(a.max_images),
        eval_share: a.eval_share,
        ..defaults
    };
    let plan = build_plan(&sources, &catalog, &photos, &opts)?;

    let pb = ProgressBar::new(plan.entries.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} synth-media [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    let report = render_media(
        &plan,
        &photos_dir,
        &out,
        a.force,
        &Espeak::default(),
        &|| pb.inc(1),
    )?;
    pb.finish_and_clear();
    let written = write_files(&plan, &out, report.espeak_version.as_deref())?;

    let c = counts(&plan);
    println!(
        "{} items ({} train, {} eval) from {} training items and {} base photos ({} held out for eval)",
        c.total,
        c.train,
        c.eval,
        sources.len(),
        photos.len(),
        plan.eval_photos.len()
    );
    println!("by kind (train + eval):");
    for (kind, (t, e)) in &c.by_kind {
        println!("  {kind:<34} {t:>4} + {e:>3}");
    }
    let langs: Vec<String> = c
        .by_language
        .iter()
        .map(|(l, n)| format!("{l}={n}"))
        .collect();
    println!("speech by language: {}", langs.join(" "));
    println!(
        "rendered {}, kept {} existing, removed {} stale; {:.1} s",
        report.rendered,
        report.kept,
        report.removed,
        t0.elapsed().as_secs_f64()
    );
    if let Some(v) = &report.espeak_version {
        println!("speech by {v}");
    }
    for p in &written {
        println!("wrote {}", p.display());
    }
    println!(
        "media in {}/audio and {}/image",
        out.display(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}
