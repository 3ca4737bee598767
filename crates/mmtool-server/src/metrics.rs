//! Prometheus metrics: request counts and latency per route, errors per code,
//! and the model-work queue.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::error::{ApiError, ErrorCode};
use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route pattern (`/v1/tools/{*id}`), never the raw path, so that
    /// label cardinality stays bounded.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    pub code: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 0.1 ms .. ~26 s
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: HistogramFamily<RouteLabels>,
    pub errors: Family<CodeLabels, Counter>,
    pub queue_wait: Histogram,
    pub model_seconds: Histogram,
    pub model_inflight: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("mmtool");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = HistogramFamily::<RouteLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let errors = Family::<CodeLabels, Counter>::default();
        let queue_wait = latency_histogram();
        let model_seconds = latency_histogram();
        let model_inflight = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests by method, route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request to response, by route",
            latency.clone(),
        );
        registry.register(
            "http_errors",
            "Error responses by error code",
            errors.clone(),
        );
        registry.register(
            "model_queue_wait_seconds",
            "Time a request waited for a free model slot",
            queue_wait.clone(),
        );
        registry.register(
            "model_seconds",
            "Time spent in the recommender",
            model_seconds.clone(),
        );
        registry.register(
            "model_inflight",
            "Requests running the recommender now",
            model_inflight.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            errors,
            queue_wait,
            model_seconds,
            model_inflight,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    pub fn observe(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
        error: Option<&str>,
    ) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_string(),
                route: route.to_string(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_string(),
            })
            .observe(elapsed.as_secs_f64());
        if let Some(code) = error {
            self.errors
                .get_or_create(&CodeLabels {
                    code: code.to_string(),
                })
                .inc();
        }
    }
}

/// Outermost layer: bounds each request's time and records it.
pub async fn track(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let timeout = state.config.request_timeout;
    let resp = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            format!(
                "the request took longer than the server's limit of {:.1} s; try again",
                timeout.as_secs_f64()
            ),
        )
        .into_response(),
    };
    let code = resp.extensions().get::<ErrorCode>().map(|c| c.0);
    state.metrics.observe(
        &method,
        &route,
        resp.status().as_u16(),
        start.elapsed(),
        code,
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counts_histograms_and_errors() {
        let m = Metrics::new();
        m.observe("GET", "/healthz", 200, Duration::from_millis(2), None);
        m.observe(
            "POST",
            "/v1/recommend",
            422,
            Duration::from_millis(5),
            Some("missing_instruction"),
        );
        m.observe(
            "POST",
            "/v1/recommend",
            422,
            Duration::from_millis(5),
            Some("missing_instruction"),
        );
        let text = m.encode();
        assert!(
            text.contains(
                r#"mmtool_http_requests_total{method="POST",route="/v1/recommend",status="422"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"mmtool_http_errors_total{code="missing_instruction"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mmtool_http_request_duration_seconds_count{route="/healthz"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE mmtool_http_request_duration_seconds histogram"),
            "{text}"
        );
        assert!(text.trim_end().ends_with("# EOF"), "{text}");
    }
}
