//! `mmtool recommend` and `mmtool predict`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context as _, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mmtool_data::{load_items, LoadOptions, Modality};
use mmtool_eval::{Prediction, RankedName};
use mmtool_recommend::Query;
use serde::Serialize;

use crate::backends::{check_media_file, Context};
use crate::output::write_atomic;
use mmtool_encoders::Perceiver;
use mmtool_media::Limits;

#[derive(Args)]
#[command(
    after_help = "Examples:\n  mmtool recommend \"translate this German text to English\"\n  \
mmtool recommend \"make this sharper\" --image photo.jpg --top-k 3\n  mmtool recommend \"what is being said?\" --audio clip.wav --json"
)]
pub struct RecommendArgs {
    /// The request, in plain words.
    pub instruction: String,
    /// Attach an image (the request is then about this image).
    #[arg(long, value_name = "FILE", group = "media")]
    pub image: Option<PathBuf>,
    /// Attach an audio recording.
    #[arg(long, value_name = "FILE", group = "media")]
    pub audio: Option<PathBuf>,
    /// Attach a video.
    #[arg(long, value_name = "FILE", group = "media")]
    pub video: Option<PathBuf>,
    /// How many tools to list.
    #[arg(long, short = 'k', default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_k: u16,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Which recommender to use.
    #[arg(long, default_value = "bm25")]
    pub backend: String,
}

#[derive(Serialize)]
struct RankedOut<'a> {
    rank: usize,
    id: &'a str,
    score: f32,
    task: &'a str,
    summary: &'a str,
    api_call: &'a str,
}

pub fn recommend(ctx: &Context, a: RecommendArgs) -> Result<ExitCode> {
    if a.instruction.trim().is_empty() {
        anyhow::bail!("the instruction is empty; say what you want done");
    }
    let (modality, media) = match (a.image, a.audio, a.video) {
        (Some(p), _, _) => (Modality::Image, Some(p)),
        (_, Some(p), _) => (Modality::Audio, Some(p)),
        (_, _, Some(p)) => (Modality::Video, Some(p)),
        _ => (Modality::Text, None),
    };
    // The encoders read the attachment first: a corrupt file or one whose
    // content is not what its flag says fails before any model work.
    let perception = match &media {
        Some(p) => {
            check_media_file(p)?;
            let perceiver = Perceiver::new(Perceiver::default_cache_dir(), Limits::default());
            Some(perceiver.perceive(p, Some(modality))?)
        }
        None => None,
    };
    let t0 = Instant::now();
    let backend = ctx.build_backend(&a.backend)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let query = Query {
        instruction: a.instruction.trim().to_string(),
        modality,
        media,
    };
    let t1 = Instant::now();
    let mut rec = backend.recommend(&query, a.top_k as usize)?;
    if rec.findings.is_none() {
        rec.findings = perception.as_ref().map(|p| p.findings());
    }
    let infer_ms = t1.elapsed().as_secs_f64() * 1e3;
    let catalog = backend.catalog();
    let rows: Vec<RankedOut> = rec
        .ranked
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            catalog.get(&s.id).map(|c| RankedOut {
                rank: i + 1,
                id: &c.id,
                score: s.score,
                task: &c.task,
                summary: &c.summary,
                api_call: &c.api_call,
            })
        })
        .collect();
    if a.json {
        let out = serde_json::json!({
            "backend": backend.name(),
            "instruction": query.instruction,
            "modality": query.modality,
            "response": rec.response_text(),
            "ranked": rows,
            "findings": rec.findings,
            "timing_ms": {
                "media": perception.as_ref().map(|p| p.decode_ms + p.encode_ms),
                "load": load_ms,
                "recommend": infer_ms,
            },
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{} tools for: {} [{}] (backend {})",
            rows.len(),
            query.instruction,
            query.modality,
            backend.name()
        );
        for r in &rows {
            println!(
                "\n{:>2}. {}  (score {:.3}, {})",
                r.rank, r.id, r.score, r.task
            );
            println!("    {}", r.summary);
            println!("    {}", r.api_call);
        }
        if let Some(f) = &rec.findings {
            println!("\nmedia: {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct PredictArgs {
    /// ToolMMBench file to answer (e.g. test.json).
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
    /// Where to write the predictions (JSON list of {question_id, questions, response, ranked}).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Which recommender to use.
    #[arg(long, default_value = "bm25")]
    pub backend: String,
    /// Length of each item's ranked list (for acc@k).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_k: u16,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn predict(ctx: &Context, a: PredictArgs) -> Result<ExitCode> {
    if a.out.is_dir() {
        anyhow::bail!(
            "{}: is a directory; --out must name a file",
            a.out.display()
        );
    }
    if a.out.exists() && !a.force {
        anyhow::bail!(
            "{}: already exists; pass --force to overwrite it",
            a.out.display()
        );
    }
    // Fail before the (long) run rather than after it when the output cannot be written there.
    if let Some(dir) = a.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            anyhow::bail!(
                "{}: directory {} does not exist",
                a.out.display(),
                dir.display()
            );
        }
    }
    let items = load_items(&a.data, LoadOptions::default())?;
    let backend = ctx.build_backend(&a.backend)?;
    let pb = ProgressBar::new(items.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} predict [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        let rec = backend
            .recommend(&Query::from_item(item), a.top_k as usize)
            .with_context(|| format!("{}: item id {}", a.data.display(), item.id))?;
        out.push(Prediction {
            question_id: item.id,
            questions: item.instruction.clone(),
            response: rec.response_text(),
            ranked: Some(
                rec.ranked
                    .into_iter()
                    .map(|s| RankedName {
                        api_name: s.id,
                        score: Some(s.score),
                    })
                    .collect(),
            ),
        });
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_atomic(&a.out, &serde_json::to_vec_pretty(&out)?, a.force)?;
    eprintln!("wrote {} predictions to {}", out.len(), a.out.display());
    Ok(ExitCode::SUCCESS)
}
