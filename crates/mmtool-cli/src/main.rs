//! `mmtool`: recommend a machine-learning tool for a request and an optional
//! attached image, audio recording or video.

mod backends;
mod cmd_catalog;
mod cmd_data;
mod cmd_embed;
mod cmd_eval;
mod cmd_recommend;
mod cmd_retrieval;
mod cmd_serve;
mod cmd_synth;
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

    /// mllm backend: choose among the retrieval stage's N best tools (0 = the whole catalog).
    #[arg(long, global = true, value_name = "N", default_value_t = backends::DEFAULT_SHORTLIST)]
    shortlist: usize,

    /// mllm backend: weight of the retrieval score added to the MLLM's log-likelihood of each
    /// shortlisted tool (0 = the MLLM alone decides among the shortlist).
    #[arg(long, global = true, value_name = "W", default_value_t = backends::DEFAULT_FUSION_WEIGHT)]
    fusion_weight: f32,

    /// mllm backend: score each shortlisted tool by its plain log-likelihood instead of by how
    /// much the request raises it (log P(tool | request) - log P(tool | empty request), the
    /// default). The plain likelihood mostly favours short, frequent ids such as `unknown`
    /// (docs/llm.md).
    #[arg(long, global = true)]
    no_calibration: bool,

    /// mllm backend: the retrieval ranking its shortlist and fusion prior come from.
    #[arg(long, global = true, value_enum, default_value_t = backends::DEFAULT_SHORTLIST_SCORING)]
    shortlist_scoring: backends::ShortlistScoring,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Recommend tools for one request (the main job).
    Recommend(cmd_recommend::RecommendArgs),
    /// Show what the frozen encoders find in an image, audio or video file.
    Embed(cmd_embed::EmbedArgs),
    /// Write a predictions file for every item of a ToolMMBench file.
    Predict(cmd_recommend::PredictArgs),
    /// Score a predictions file against a ToolMMBench file (accuracy, hallucination, acc@k, breakdowns).
    Eval(cmd_eval::EvalArgs),
    /// Inspect and validate ToolMMBench instruction files; render synthetic training media.
    #[command(subcommand)]
    Data(cmd_data::DataCommand),
    /// Browse and search the tool catalog.
    #[command(subcommand)]
    Catalog(cmd_catalog::CatalogCommand),
    /// Serve the HTTP API and the web demo.
    Serve(cmd_serve::ServeArgs),
    /// Train the mllm backend's LoRA adapter and media projection.
    Train(cmd_train::TrainArgs),
    /// Semantic retrieval: build the index, tune, fine-tune, evaluate, benchmark.
    #[command(subcommand)]
    Retrieval(cmd_retrieval::RetrievalCommand),
}

fn main() -> ExitCode {
    mmtool_data::runtime::keep_freed_memory();
    mmtool_data::fix_thread_count();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("MMTOOL_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let ctx = backends::Context::new(cli.data_dir).with_mllm(backends::MllmFlags {
        adapter: cli.adapter,
        unconstrained: cli.unconstrained,
        shortlist: cli.shortlist,
        fusion_weight: cli.fusion_weight,
        calibrate: !cli.no_calibration,
        shortlist_scoring: cli.shortlist_scoring,
    });
    let result = match cli.command {
        Command::Recommend(a) => cmd_recommend::recommend(&ctx, a),
        Command::Predict(a) => cmd_recommend::predict(&ctx, a),
        Command::Embed(a) => cmd_embed::run(a),
        Command::Eval(a) => cmd_eval::run(&ctx, a),
        Command::Data(c) => cmd_data::run(&ctx, c),
        Command::Catalog(c) => cmd_catalog::run(&ctx, c),
        Command::Serve(a) => cmd_serve::run(&ctx, a),
        Command::Train(a) => cmd_train::run(&ctx, a),
        Command::Retrieval(c) => cmd_retrieval::run(&ctx, c),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`mmtool catalog list | head`): not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", render_error(&e));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The error and its causes, joined by ": ". The data and eval error types
/// already end their message with their source's text; repeating it (as
/// anyhow's `{:#}` does) would print "Is a directory: Is a directory".
fn render_error(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_in_the_message_are_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = anyhow::Error::new(mmtool_data::DataError::Io {
            path: "x.json".into(),
            source: io,
        })
        .context("loading training data");
        assert_eq!(
            render_error(&e),
            "loading training data: x.json: cannot read file: no such file"
        );
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(render_error(&e), "outer: inner");
    }
}
