//! HTTP API and web demo for mmtool.
//!
//! The server is generic over [`Recommender`]: it takes any loaded backend
//! (`Arc<dyn Recommender>`), so it knows nothing of how tools are ranked.
//! Model work runs on the blocking pool behind a semaphore, so at most
//! [`ServerConfig::max_concurrency`] requests use the model at once while the
//! rest queue; every request is bounded in time and body size, and every
//! failure is a JSON `{"error": {"code", "message"}}`.

mod api;
mod error;
mod media;
mod metrics;
mod web;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use mmtool_recommend::Recommender;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use api::ApiDoc;
pub use error::ApiError;
pub use media::MediaInfo;
pub use metrics::Metrics;

/// Limits and defaults of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest request body accepted, in bytes (larger: 413).
    pub body_limit: usize,
    /// Longest a request may take, queueing included (longer: 503).
    pub request_timeout: Duration,
    /// Requests that may run the recommender at the same time.
    pub max_concurrency: usize,
    /// Tools listed when the request gives no `top_k`.
    pub default_top_k: usize,
    /// Largest `top_k` accepted.
    pub max_top_k: usize,
    /// Where uploads are kept while a request runs (system temp dir if unset).
    pub upload_dir: Option<PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            body_limit: 50 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            max_concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            default_top_k: 5,
            max_top_k: 100,
            upload_dir: None,
        }
    }
}

/// Everything handlers share.
pub struct AppState {
    pub backend: Arc<dyn Recommender>,
    pub config: ServerConfig,
    pub metrics: Metrics,
    pub(crate) model_slots: Arc<Semaphore>,
    /// Runs the frozen encoders on an upload, when the binary has them.
    pub perceive: Option<Arc<PerceiveFn>>,
}

/// What the encoders made of an uploaded file.
#[derive(Debug, Clone)]
pub struct Perceived {
    /// In the layout the MLLM's media projection reads (`Query::media_features`).
    pub features: Vec<f32>,
    /// Shown to users next to the recommendation (language, ImageNet labels ...).
    pub findings: serde_json::Value,
    /// Words for what the request's text leaves open (`Query::media_hint`).
    pub hint: Option<String>,
    /// A less certain reading, for widening a shortlist (`Query::shortlist_hint`).
    pub shortlist_hint: Option<String>,
}

/// Encodes the file at a path with the given (sniffed) modality. The binary
/// that owns the encoders provides it, so that this crate does not depend on
/// them (and tests can run without model weights).
pub type PerceiveFn =
    dyn Fn(&std::path::Path, mmtool_data::Modality) -> anyhow::Result<Perceived> + Send + Sync;

impl AppState {
    pub fn new(backend: Arc<dyn Recommender>, config: ServerConfig) -> Self {
        let slots = config.max_concurrency.max(1);
        AppState {
            backend,
            config,
            metrics: Metrics::new(),
            model_slots: Arc::new(Semaphore::new(slots)),
            perceive: None,
        }
    }

    /// Encodes uploads with `perceive` before recommending.
    pub fn with_perception(mut self, perceive: Arc<PerceiveFn>) -> Self {
        self.perceive = Some(perceive);
        self
    }
}

/// The complete application: API, OpenAPI document, metrics and web demo.
pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.config.body_limit;
    Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(api::metrics))
        .route("/openapi.json", get(api::openapi))
        .route("/v1/recommend", post(api::recommend))
        .route("/v1/tools", get(api::list_tools))
        // Hub ids hold a '/', so the id is the rest of the path.
        .route("/v1/tools/{*id}", get(api::get_tool))
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .with_state(state)
}

/// Serves `router` on an already-bound listener until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
