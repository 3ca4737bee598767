//! `mmtool recommend` and `mmtool predict`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
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
use mmtool_encoders::{Perceiver, Perception};

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
    /// Which recommender to use: retrieval (MiniLM over tool cards; the most accurate measured, see
    /// BENCHMARKS.md), bm25 (lexical, no model) or mllm (LLM + LoRA choosing among retrieval's shortlist).
    #[arg(long, default_value = "retrieval")]
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
            Some(Perceiver::with_default_caches().perceive(p, Some(modality))?)
        }
        None => None,
    };
    let t0 = Instant::now();
    let backend = ctx.build_backend(&a.backend)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut query = Query {
        instruction: a.instruction.trim().to_string(),
        modality,
        media,
        ..Query::text("")
    };
    if let Some(p) = &perception {
        attach_perception(&mut query, p)?;
    }
    let t1 = Instant::now();
    let mut rec = backend.recommend(&query, a.top_k as usize)?;
    // What the encoders found, plus what the backend says it did with it.
    if let Some(p) = &perception {
        rec.add_encoder_findings(p.findings());
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
            println!("\nfound in the media: {}", describe_findings(f));
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
    /// Which recommender to use: retrieval (MiniLM over tool cards; the most accurate measured, see
    /// BENCHMARKS.md), bm25 (lexical, no model) or mllm (LLM + LoRA choosing among retrieval's shortlist).
    #[arg(long, default_value = "retrieval")]
    pub backend: String,
    /// Length of each item's ranked list (for acc@k).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub top_k: u16,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Answer only every N-th item (1 = all), for a quicker estimate with slow backends.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub every: u32,
    /// Run the encoders on each item's attached file (its path taken relative to the data file's
    /// folder, e.g. the files `mmtool data synth-media` writes) and pass what they find to the
    /// backend, as `recommend --image/--audio/--video` does. A missing or unreadable file is an
    /// error. Without it, items are answered from their words (ToolMMBench ships no media).
    #[arg(long)]
    pub with_media: bool,
}

/// What the encoders found, in the query fields the backends read.
fn attach_perception(query: &mut Query, p: &Perception) -> Result<()> {
    query.media_features = Some(p.media_features()?);
    query.media_hint = p.text_hint();
    query.shortlist_hint = p.shortlist_hint();
    Ok(())
}

/// Answers already written to `<out>.partial` by an interrupted run of the
/// same command (first line `header`): one JSON prediction per line, a torn
/// last line ignored. A progress file of another command is an error, never
/// silently mixed in.
fn read_partial(path: &Path, header: &str) -> Result<Vec<Prediction>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(_) => return Ok(Vec::new()),
    };
    let mut lines = text.lines();
    match lines.next() {
        None => Ok(Vec::new()),
        Some(h) if h == header => Ok(lines
            .map_while(|l| serde_json::from_str::<Prediction>(l).ok())
            .collect()),
        Some(_) => anyhow::bail!(
            "{}: progress file of a different predict command (other backend, data or settings); \
             delete it to start over",
            path.display()
        ),
    }
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
    let items: Vec<_> = load_items(&a.data, LoadOptions::default())?
        .into_iter()
        .step_by(a.every as usize)
        .collect();
    let backend = ctx.build_backend(&a.backend)?;
    // Progress survives an interruption: each answer is appended to
    // `<out>.partial`, and a rerun of the same command picks up from there.
    let partial_path = PathBuf::from(format!("{}.partial", a.out.display()));
    let header = serde_json::to_string(&serde_json::json!({
        "mmtool_predict_progress": {
            "backend": a.backend,
            "data": a.data,
            "top_k": a.top_k,
            "every": a.every,
            "with_media": a.with_media,
            "mllm": format!("{:?}", ctx.mllm_flags()),
        }
    }))?;
    // A progress file of another command that holds no answer (its run
    // failed on the first item) is replaced: nothing is lost.
    if let Ok(text) = std::fs::read_to_string(&partial_path) {
        let mut lines = text.lines();
        if lines.next().is_some_and(|h| h != header) && lines.all(|l| l.trim().is_empty()) {
            std::fs::remove_file(&partial_path).with_context(|| {
                format!("{}: cannot replace progress file", partial_path.display())
            })?;
        }
    }
    let fresh = std::fs::metadata(&partial_path)
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    let mut out = read_partial(&partial_path, &header)?;
    out.retain(|p| items.iter().any(|i| i.id == p.question_id));
    let done: std::collections::HashSet<u64> = out.iter().map(|p| p.question_id).collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} of {} items already answered in {}",
            done.len(),
            items.len(),
            partial_path.display()
        );
    }
    let mut partial = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&partial_path)
        .with_context(|| format!("{}: cannot write progress file", partial_path.display()))?;
    if fresh {
        writeln!(partial, "{header}")
            .with_context(|| format!("{}: cannot write progress file", partial_path.display()))?;
    }
    let pb = ProgressBar::new(items.len() as u64);
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} predict [{elapsed_precise}] {bar:30} {pos}/{len} {per_sec} eta {eta}",
        )
        .expect("static template"),
    );
    pb.inc(done.len() as u64);
    let mut latencies_ms: Vec<f64> = Vec::new();
    let perceiver = a.with_media.then(Perceiver::with_default_caches);
    let media_root = a.data.parent().map(Path::to_path_buf).unwrap_or_default();
    for item in items.iter().filter(|i| !done.contains(&i.id)) {
        let mut query = Query::from_item(item);
        if let (Some(perceiver), Some(rel)) = (&perceiver, item.media_path.as_deref()) {
            if !rel.is_empty() {
                let path = media_root.join(rel);
                let p = perceiver
                    .perceive(&path, Some(item.modality))
                    .with_context(|| format!("{}: item id {}", a.data.display(), item.id))?;
                attach_perception(&mut query, &p)?;
            }
        }
        let t = Instant::now();
        let rec = backend
            .recommend(&query, a.top_k as usize)
            .with_context(|| format!("{}: item id {}", a.data.display(), item.id))?;
        latencies_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let p = Prediction {
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
        };
        writeln!(partial, "{}", serde_json::to_string(&p)?)
            .with_context(|| format!("{}: cannot write progress file", partial_path.display()))?;
        out.push(p);
        pb.inc(1);
    }
    // Keep the data file's order whatever order the answers came in.
    let order: std::collections::HashMap<u64, usize> =
        items.iter().enumerate().map(|(i, it)| (it.id, i)).collect();
    out.sort_by_key(|p| order[&p.question_id]);
    pb.finish_and_clear();
    write_atomic(&a.out, &serde_json::to_vec_pretty(&out)?, a.force)?;
    drop(partial);
    let _ = std::fs::remove_file(&partial_path);
    eprintln!("wrote {} predictions to {}", out.len(), a.out.display());
    if !latencies_ms.is_empty() {
        latencies_ms.sort_by(f64::total_cmp);
        let q = |p: f64| latencies_ms[((latencies_ms.len() - 1) as f64 * p).round() as usize];
        eprintln!(
            "recommend latency over {} requests (backend {}, model loaded): p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            latencies_ms.len(),
            a.backend,
            q(0.5),
            q(0.95),
            q(1.0)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The findings in one line for people: the top spoken languages and
/// ImageNet guesses with their probabilities, and what the backend did with
/// the media token (`--json` has everything).
pub fn describe_findings(f: &serde_json::Value) -> String {
    let top = |key: &str| -> Option<String> {
        let list = f.get(key)?.as_array()?;
        let parts: Vec<String> = list
            .iter()
            .take(3)
            .filter_map(|e| {
                Some(format!(
                    "{} {:.0}%",
                    e.get(0)?.as_str()?,
                    e.get(1)?.as_f64()? * 100.
                ))
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    };
    let mut out = Vec::new();
    if let Some(l) = top("languages") {
        out.push(format!("spoken language: {l}"));
    }
    if let Some(l) = top("labels") {
        out.push(format!("looks like: {l}"));
    }
    if let Some(t) = f.get("media_token").and_then(|t| t.as_str()) {
        out.push(format!("media token {t}"));
    }
    if out.is_empty() {
        f.to_string()
    } else {
        out.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_read_as_top_guesses_with_percentages() {
        let f = serde_json::json!({
            "modality": "audio",
            "languages": [["de", 0.932], ["en", 0.05], ["nl", 0.01], ["la", 0.005]],
            "labels": [],
            "media_token": "not used: this adapter reads 512 values"
        });
        assert_eq!(
            describe_findings(&f),
            "spoken language: de 93%, en 5%, nl 1%; media token not used: this adapter reads 512 values"
        );
        let img = serde_json::json!({"labels": [["tabby", 0.41]], "languages": []});
        assert_eq!(describe_findings(&img), "looks like: tabby 41%");
        let odd = serde_json::json!({"modality": "video"});
        assert_eq!(
            describe_findings(&odd),
            odd.to_string(),
            "nothing to summarise: raw"
        );
    }

    #[test]
    fn partial_progress_is_read_back_and_a_foreign_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("p.json.partial");
        assert!(
            read_partial(&p, "H").unwrap().is_empty(),
            "no file: nothing done"
        );
        let one = r#"{"question_id":3,"questions":"q","response":"{'api_name': 'a'}"}"#;
        std::fs::write(&p, format!("H\n{one}\n{one}\n{{\"question_id\":4,\"resp")).unwrap();
        let got = read_partial(&p, "H").unwrap();
        assert_eq!(got.len(), 2, "the torn last line is dropped");
        assert_eq!(got[0].question_id, 3);
        let err = read_partial(&p, "other").unwrap_err().to_string();
        assert!(err.contains("different predict command"), "{err}");
        assert!(err.contains("p.json.partial"), "{err}");
    }
}
