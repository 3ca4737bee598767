mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use hyper::{Method, StatusCode};
use mmtool_catalog::Catalog;
use mmtool_recommend::{Query, Recommendation, Recommender, Scored};
use mmtool_server::ServerConfig;

fn small_limits() -> ServerConfig {
    ServerConfig {
        body_limit: 256 * 1024,
        request_timeout: Duration::from_secs(20),
        max_concurrency: 2,
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn json_text_request_is_ranked_with_card_details() {
    let s = TestServer::start(bm25(), small_limits()).await;
    let r = s
        .post_json(r#"{"instruction": "translate this German text into English", "top_k": 3}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["modality"], "text");
    assert_eq!(v["backend"], "bm25");
    let ranked = v["ranked"].as_array().unwrap();
    assert!(!ranked.is_empty() && ranked.len() <= 3);
    assert_eq!(ranked[0]["id"], "Helsinki-NLP/opus-mt-de-en");
    assert_eq!(ranked[0]["rank"], 1);
    assert_eq!(ranked[0]["task"], "translation");
    assert_eq!(
        ranked[0]["api_call"],
        "pipeline('translation', model='Helsinki-NLP/opus-mt-de-en')"
    );
    assert!(ranked[0]["summary"].as_str().unwrap().contains("German"));
    assert_eq!(v["response"], "{'api_name': Helsinki-NLP/opus-mt-de-en}");
    assert!(
        v["timing_ms"]["total_ms"].as_f64().unwrap()
            >= v["timing_ms"]["model_ms"].as_f64().unwrap()
    );
    assert!(v["media"].is_null());
    s.stop().await;
}

#[tokio::test]
async fn uploads_are_sniffed_by_content_and_removed_afterwards() {
    let s = TestServer::start(bm25(), small_limits()).await;
    // The client's name and type lie; the content decides, and the name is never a path.
    let form = Form::default()
        .text("instruction", "what objects does this photo show")
        .file(
            "file",
            "../../../../tmp/evil.txt",
            "text/plain",
            &png(32, 24),
        );
    let r = s.post_form(&form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["modality"], "image");
    assert_eq!(v["media"]["mime"], "image/png");
    assert_eq!(v["media"]["dimensions"], serde_json::json!([32, 24]));
    assert_eq!(v["ranked"][0]["id"], "google/vit-base-patch16-224");
    assert!(!std::path::Path::new("/tmp/evil.txt").exists());

    let form = Form::default()
        .text("instruction", "transcribe the speech into text")
        .text("top_k", "2")
        .file("file", "clip.bin", "application/octet-stream", &wav(8000));
    let r = s.post_form(&form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["modality"], "audio");
    assert_eq!(v["media"]["sample_rate"], 16000);
    assert_eq!(v["ranked"].as_array().unwrap().len(), 2);
    assert_eq!(v["ranked"][0]["id"], "openai/whisper-base");

    // A browser form with no file chosen sends an empty, nameless file part.
    let form = Form::default()
        .text("instruction", "summarize this article")
        .file("file", "", "application/octet-stream", b"");
    let r = s.post_form(&form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["modality"], "text");

    assert_eq!(
        s.leftover_uploads(),
        0,
        "temp files must be removed after each request"
    );
    s.stop().await;
}

#[tokio::test]
async fn declared_modality_without_file_is_used() {
    let s = TestServer::start(bm25(), small_limits()).await;
    let r = s
        .post_json(r#"{"instruction": "recognise it", "modality": "video"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert_eq!(v["modality"], "video");
    assert_eq!(v["ranked"][0]["id"], "MCG-NJU/videomae-base");
    s.stop().await;
}

#[tokio::test]
async fn tools_are_listed_filtered_paged_and_fetched_by_slashed_id() {
    let s = TestServer::start(bm25(), small_limits()).await;
    let v = s.get("/v1/tools").await.json();
    assert_eq!(v["total"], 6);
    assert_eq!(v["tools"].as_array().unwrap().len(), 6);

    let v = s.get("/v1/tools?offset=1&limit=2").await.json();
    assert_eq!(
        (
            v["total"].as_u64(),
            v["offset"].as_u64(),
            v["limit"].as_u64()
        ),
        (Some(6), Some(1), Some(2))
    );
    let ids: Vec<&str> = v["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["openai/whisper-base", "google/vit-base-patch16-224"]);

    let v = s
        .get("/v1/tools?modality=text&task=translation")
        .await
        .json();
    assert_eq!(v["total"], 1);
    assert_eq!(v["tools"][0]["id"], "Helsinki-NLP/opus-mt-de-en");

    let r = s.get("/v1/tools/openai/whisper-base").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["task"], "automatic-speech-recognition");
    let r = s.get("/v1/tools/openai%2Fwhisper-base").await;
    assert_eq!(r.json()["id"], "openai/whisper-base");
    assert_eq!(s.get("/v1/tools/t5-base").await.json()["id"], "t5-base");

    let r = s.get("/v1/tools/openai/whisper-tiny").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "tool_not_found")
    );
    for bad in [
        "/v1/tools?modality=smell",
        "/v1/tools?limit=0",
        "/v1/tools?offset=-3",
        "/v1/tools?colour=red",
    ] {
        let r = s.get(bad).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
            "{bad}"
        );
    }
    s.stop().await;
}

#[tokio::test]
async fn health_metrics_page_and_json_404_405() {
    let s = TestServer::start(bm25(), small_limits()).await;
    let h = s.get("/healthz").await.json();
    assert_eq!(
        (h["status"].as_str(), h["tools"].as_u64()),
        (Some("ok"), Some(6))
    );

    s.post_json(r#"{"instruction": ""}"#).await;
    let r = s.get("/metrics").await;
    assert!(
        r.content_type.starts_with("application/openmetrics-text"),
        "{}",
        r.content_type
    );
    assert!(
        r.text.contains(
            r#"mmtool_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(r#"mmtool_http_errors_total{code="missing_instruction"} 1"#),
        "{}",
        r.text
    );
    assert!(
        r.text
            .contains(r#"mmtool_http_request_duration_seconds_bucket{le="#),
        "{}",
        r.text
    );

    let page = s.get("/").await;
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.text.contains("/assets/app.js") && page.text.contains("id=\"drop\""));
    // Everything the page loads is served by us: no external resources.
    assert!(!page.text.contains("http://") && !page.text.contains("https://"));
    for asset in ["/assets/app.js", "/assets/style.css"] {
        let a = s.get(asset).await;
        assert_eq!(a.status, StatusCode::OK, "{asset}");
        assert!(
            !a.text.contains("https://"),
            "{asset} must not load external resources"
        );
    }
    let r = s.get("/assets/../Cargo.toml").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = s.get("/v2/nothing").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let r = s.get("/v1/recommend").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    s.stop().await;
}

#[tokio::test]
async fn openapi_lists_every_route_and_each_one_answers() {
    let s = TestServer::start(bm25(), small_limits()).await;
    let doc = s.get("/openapi.json").await.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let listed: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/v1/recommend"),
        ("GET", "/v1/tools"),
        ("GET", "/v1/tools/{id}"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    assert_eq!(listed, expected);
    // Each documented operation exists on the live router with that method.
    for (method, path) in &listed {
        let path = path.replace("{id}", "openai/whisper-base");
        let method: Method = method.parse().unwrap();
        let r = if method == Method::POST {
            s.post_json(r#"{"instruction": "transcribe speech"}"#).await
        } else {
            s.send(method.clone(), &path, None, Vec::new()).await
        };
        assert_eq!(r.status, StatusCode::OK, "{method} {path}: {}", r.text);
    }
    // Every schema the operations refer to is defined.
    let text = doc.to_string();
    for schema in doc["components"]["schemas"].as_object().unwrap().keys() {
        assert!(
            text.contains(&format!("#/components/schemas/{schema}")),
            "unused schema {schema}"
        );
    }
    s.stop().await;
}

/// A backend that takes its time and records how many calls overlap.
struct SlowBackend {
    catalog: Arc<Catalog>,
    delay: Duration,
    running: AtomicUsize,
    peak: AtomicUsize,
}

impl Recommender for SlowBackend {
    fn name(&self) -> &str {
        "slow"
    }
    fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }
    fn recommend(&self, _q: &Query, _k: usize) -> anyhow::Result<Recommendation> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(self.delay);
        self.running.fetch_sub(1, Ordering::SeqCst);
        Ok(Recommendation {
            ranked: vec![Scored {
                id: "t5-base".into(),
                score: 1.0,
            }],
            raw: None,
            findings: Some(serde_json::json!({"language": "de"})),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn model_work_is_bounded_and_queued() {
    let backend = Arc::new(SlowBackend {
        catalog: catalog(),
        delay: Duration::from_millis(150),
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let cfg = ServerConfig {
        max_concurrency: 1,
        ..small_limits()
    };
    let s = Arc::new(TestServer::start(backend.clone(), cfg).await);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.post_json(r#"{"instruction": "anything"}"#).await
        }));
    }
    let mut queued = 0;
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let v = r.json();
        assert_eq!(
            v["findings"]["language"], "de",
            "findings are passed through"
        );
        if v["timing_ms"]["queue_ms"].as_f64().unwrap() > 100.0 {
            queued += 1;
        }
    }
    assert_eq!(
        backend.peak.load(Ordering::SeqCst),
        1,
        "the semaphore allows one model call at a time"
    );
    assert!(queued >= 3, "later requests waited in the queue ({queued})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_with_json_503() {
    let backend = Arc::new(SlowBackend {
        catalog: catalog(),
        delay: Duration::from_millis(800),
        running: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
    });
    let cfg = ServerConfig {
        request_timeout: Duration::from_millis(200),
        ..small_limits()
    };
    let s = TestServer::start(backend, cfg).await;
    let r = s.post_json(r#"{"instruction": "anything"}"#).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "timeout")
    );
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("0.2 s"));
    assert_eq!(s.get("/healthz").await.status, StatusCode::OK);
    s.stop().await;
}

/// Reports the width of the media features it was given, as a backend's note.
struct FeatureEcho(Arc<mmtool_catalog::Catalog>);

impl Recommender for FeatureEcho {
    fn name(&self) -> &str {
        "echo"
    }
    fn catalog(&self) -> &Arc<mmtool_catalog::Catalog> {
        &self.0
    }
    fn recommend(
        &self,
        q: &mmtool_recommend::Query,
        _k: usize,
    ) -> anyhow::Result<mmtool_recommend::Recommendation> {
        Ok(mmtool_recommend::Recommendation {
            ranked: vec![mmtool_recommend::Scored {
                id: self.0.cards()[0].id.clone(),
                score: 1.0,
            }],
            raw: None,
            findings: Some(serde_json::json!({
                "features": q.media_features.as_ref().map(|f| f.len()),
                "ranking_text": q.ranking_text(),
            })),
        })
    }
}

#[tokio::test]
async fn uploads_go_through_the_encoders_when_the_server_has_them() {
    let hook: Arc<mmtool_server::PerceiveFn> = Arc::new(|path, modality| {
        assert!(path.exists(), "the upload is readable while encoding");
        if modality == mmtool_data::Modality::Audio {
            anyhow::bail!("no audio stream");
        }
        Ok(mmtool_server::Perceived {
            features: vec![0.5; 7],
            findings: serde_json::json!({"labels": [["tabby", 0.5]]}),
            hint: Some("tabby cat".into()),
            shortlist_hint: None,
        })
    });
    let s =
        TestServer::start_with(Arc::new(FeatureEcho(catalog())), small_limits(), Some(hook)).await;
    let form = Form::default()
        .text("instruction", "what is in this photo")
        .file("file", "p.png", "image/png", &png(8, 8));
    let r = s.post_form(&form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let f = &r.json()["findings"];
    assert_eq!(f["labels"][0][0], "tabby", "{f}");
    assert_eq!(f["features"], 7, "the features reach the backend: {f}");
    assert_eq!(
        f["ranking_text"], "what is in this photo (tabby cat)",
        "{f}"
    );
    // Text-only requests are not encoded.
    let r = s
        .post_json(r#"{"instruction": "translate this text"}"#)
        .await;
    assert_eq!(r.json()["findings"]["features"], serde_json::Value::Null);
    // An encoder failure is the client's file: 422 with the reason.
    let form = Form::default().text("instruction", "what is said").file(
        "file",
        "a.wav",
        "audio/wav",
        &wav(8000),
    );
    let r = s.post_form(&form).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.error_code(), "unreadable_media");
    assert!(r.text.contains("no audio stream"), "{}", r.text);
    assert_eq!(s.leftover_uploads(), 0);
    s.stop().await;
}
