//! An in-process server on 127.0.0.1:0 over a tiny catalog, and a client.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use mmtool_catalog::{Catalog, ToolCard, UNKNOWN_ID};
use mmtool_data::Modality;
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::Recommender;
use mmtool_server::{router, serve, AppState, ServerConfig};
use serde_json::Value;

pub fn card(id: &str, task: &str, m: Modality, summary: &str) -> ToolCard {
    ToolCard {
        id: id.into(),
        task: task.into(),
        domain: "d".into(),
        input_modality: m,
        output_modality: "text".into(),
        languages: vec![],
        summary: summary.into(),
        tags: vec![],
        api_call: format!("pipeline('{task}', model='{id}')"),
        confidence: "high".into(),
    }
}

pub fn catalog() -> Arc<Catalog> {
    Arc::new(
        Catalog::from_cards(vec![
            card(
                "Helsinki-NLP/opus-mt-de-en",
                "translation",
                Modality::Text,
                "Translates German text into English.",
            ),
            card(
                "openai/whisper-base",
                "automatic-speech-recognition",
                Modality::Audio,
                "Transcribes speech recordings into text.",
            ),
            card(
                "google/vit-base-patch16-224",
                "image-classification",
                Modality::Image,
                "Classifies what objects a photo shows.",
            ),
            card(
                "MCG-NJU/videomae-base",
                "video-classification",
                Modality::Video,
                "Recognises the action in a video clip.",
            ),
            card(
                "t5-base",
                "summarization",
                Modality::Text,
                "Summarizes long articles into a few sentences.",
            ),
            card(
                UNKNOWN_ID,
                "other",
                Modality::Text,
                "No model fits the request.",
            ),
        ])
        .unwrap(),
    )
}

pub fn bm25() -> Arc<dyn Recommender> {
    Arc::new(Bm25Recommender::build(
        catalog(),
        &[],
        Bm25Config::default(),
    ))
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub upload_dir: tempfile::TempDir,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    /// The error code of a `{"error": {"code", "message"}}` body.
    pub fn error_code(&self) -> String {
        let v = self.json();
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.text
        );
        v["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("no error code: {}", self.text))
            .to_string()
    }
}

impl TestServer {
    pub async fn start(backend: Arc<dyn Recommender>, config: ServerConfig) -> TestServer {
        Self::start_with(backend, config, None).await
    }

    /// With an encoder hook for uploads.
    pub async fn start_with(
        backend: Arc<dyn Recommender>,
        mut config: ServerConfig,
        perceive: Option<Arc<mmtool_server::PerceiveFn>>,
    ) -> TestServer {
        let upload_dir = tempfile::tempdir().unwrap();
        config.upload_dir = Some(upload_dir.path().to_path_buf());
        let mut state = AppState::new(backend, config);
        if let Some(p) = perceive {
            state = state.with_perception(p);
        }
        let state = Arc::new(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, router(state), async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        TestServer {
            addr,
            upload_dir,
            client,
            stop: Some(tx),
            task: Some(task),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://{}{}", self.addr, path));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let req = req.body(Full::new(body.into())).unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(30), self.client.request(req))
            .await
            .expect("request timed out")
            .unwrap_or_else(|e| panic!("request to {path} failed: {e:?}"));
        let status = resp.status();
        let content_type = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            content_type,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, Bytes::new()).await
    }

    pub async fn post_json(&self, body: &str) -> Reply {
        self.send(
            Method::POST,
            "/v1/recommend",
            Some("application/json"),
            body.to_string(),
        )
        .await
    }

    pub async fn post_form(&self, form: &Form) -> Reply {
        self.send(
            Method::POST,
            "/v1/recommend",
            Some(&form.content_type()),
            form.body(),
        )
        .await
    }

    /// Files left in the upload directory (should be none between requests).
    pub fn leftover_uploads(&self) -> usize {
        std::fs::read_dir(self.upload_dir.path()).unwrap().count()
    }

    pub async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap();
    }
}

/// A hand-built multipart body, so tests can also build broken ones.
#[derive(Default, Clone)]
pub struct Form {
    parts: Vec<Part>,
}

/// (field name, file name, content type, data)
type Part = (String, Option<String>, Option<String>, Vec<u8>);

pub const BOUNDARY: &str = "----mmtool-test-boundary-7MA4YWxkTrZu0gW";

impl Form {
    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.parts
            .push((name.into(), None, None, value.as_bytes().to_vec()));
        self
    }

    pub fn file(mut self, name: &str, filename: &str, content_type: &str, data: &[u8]) -> Self {
        self.parts.push((
            name.into(),
            Some(filename.into()),
            Some(content_type.into()),
            data.to_vec(),
        ));
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }

    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, filename, ct, data) in &self.parts {
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match filename {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n").as_bytes(),
                ),
            }
            if let Some(ct) = ct {
                out.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img =
        image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 9) as u8, (y * 5) as u8, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// 16-bit mono PCM WAV, 16 kHz, `n` samples of a tone.
pub fn wav(n: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..n)
        .flat_map(|i| (((i as f32 * 0.17).sin() * 9000.0) as i16).to_le_bytes())
        .collect();
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    for x in [
        16u32.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
        1u16.to_le_bytes().to_vec(),
    ] {
        v.extend_from_slice(&x);
    }
    v.extend_from_slice(&16000u32.to_le_bytes());
    v.extend_from_slice(&32000u32.to_le_bytes());
    v.extend_from_slice(&2u16.to_le_bytes());
    v.extend_from_slice(&16u16.to_le_bytes());
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(&data);
    v
}

/// Deterministic pseudo-random bytes (no magic number of any format, by construction: first byte 0x01).
pub fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out: Vec<u8> = (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect();
    if let Some(b) = out.first_mut() {
        *b = 0x01;
    }
    out
}
