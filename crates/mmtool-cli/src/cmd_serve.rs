//! `mmtool serve`: the HTTP API and web demo.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use clap::Args;
use mmtool_encoders::Perceiver;
use mmtool_server::{router, serve, AppState, Perceived, ServerConfig};

use crate::backends::Context;

#[derive(Args)]
#[command(
    after_help = "Endpoints:\n  /                 web demo\n  POST /v1/recommend   JSON {\"instruction\", \"top_k\"} or multipart (instruction, file, top_k)\n  \
GET  /v1/tools        catalog (task, modality, offset, limit)\n  GET  /v1/tools/{id}   one tool\n  \
GET  /healthz, /metrics, /openapi.json\n\nExample:\n  mmtool serve --addr 127.0.0.1:8080\n  \
curl -s localhost:8080/v1/recommend -H 'content-type: application/json' -d '{\"instruction\": \"translate to French\"}'"
)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    pub addr: SocketAddr,
    /// Which recommender to load (once, at start-up): retrieval, bm25 or mllm.
    #[arg(long, default_value = "retrieval")]
    pub backend: String,
    /// Largest request body accepted, in MiB (larger bodies get 413).
    #[arg(long, default_value_t = 50, value_name = "MIB", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_body_mb: u32,
    /// Longest a request may take, queueing included, in seconds (longer: 503).
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub timeout_s: u32,
    /// Requests that may run the model at once; the rest queue (default: number of CPUs).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Directory for uploads while a request runs (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub upload_dir: Option<PathBuf>,
    /// Do not run the image/audio encoders on uploads: answer from the words and the
    /// file's modality only (no language or ImageNet findings, no media token).
    #[arg(long)]
    pub no_encoders: bool,
}

pub fn run(ctx: &Context, a: ServeArgs) -> Result<ExitCode> {
    if let Some(dir) = &a.upload_dir {
        if !dir.is_dir() {
            anyhow::bail!("{}: --upload-dir is not a directory", dir.display());
        }
    }
    let t0 = Instant::now();
    let backend: Arc<dyn mmtool_recommend::Recommender> = Arc::from(ctx.build_backend(&a.backend)?);
    eprintln!(
        "loaded backend {} ({} tools) in {:.1} s",
        backend.name(),
        backend.catalog().len(),
        t0.elapsed().as_secs_f64()
    );
    let mut config = ServerConfig {
        body_limit: a.max_body_mb as usize * 1024 * 1024,
        request_timeout: Duration::from_secs(a.timeout_s as u64),
        upload_dir: a.upload_dir,
        ..ServerConfig::default()
    };
    if let Some(n) = a.concurrency {
        config.max_concurrency = n as usize;
    }
    let mut state = AppState::new(backend, config);
    if !a.no_encoders {
        // Encoders load on the first upload that needs them; results are cached by content.
        let perceiver = Perceiver::with_default_caches();
        state = state.with_perception(Arc::new(move |path, modality| {
            let p = perceiver.perceive(path, Some(modality))?;
            Ok(Perceived {
                features: p.media_features()?,
                findings: p.findings(),
                hint: p.text_hint(),
                shortlist_hint: p.shortlist_hint(),
            })
        }));
    }
    let state = Arc::new(state);
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(a.addr)
            .await
            .with_context(|| format!("cannot listen on {}", a.addr))?;
        let addr = listener.local_addr()?;
        // Scripts (the browser test) read this line to find the port.
        println!("listening on http://{addr}");
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("shutting down");
        };
        serve(listener, router(state), shutdown)
            .await
            .context("server failed")
    })?;
    Ok(ExitCode::SUCCESS)
}
