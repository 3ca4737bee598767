//! Load test for a running `mmtool serve`: N text requests at concurrency C
//! over keep-alive connections; prints throughput, latency percentiles and
//! errors as JSON.
//!
//! cargo run --release -p mmtool-server --example loadtest -- http://127.0.0.1:8080 1000 16

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const REQUESTS: [&str; 12] = [
    "translate this German sentence into English",
    "summarize this long news article",
    "what objects are in this photo",
    "transcribe the speech in this recording",
    "generate an image of a cat surfing",
    "answer a question about a paragraph",
    "classify the sentiment of a product review",
    "which action happens in this video",
    "detect the language of this text",
    "make this blurry picture sharper",
    "read the text in this scanned receipt",
    "fill in the masked word in a sentence",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: loadtest URL [REQUESTS=1000] [CONCURRENCY=16]";
    let base = args.first().ok_or(usage)?.trim_end_matches('/').to_string();
    let total: usize = args
        .get(1)
        .map_or(Ok(1000), |s| s.parse())
        .map_err(|_| usage)?;
    let conc: usize = args
        .get(2)
        .map_or(Ok(16), |s| s.parse())
        .map_err(|_| usage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(base, total, conc.max(1)))
}

async fn run(base: String, total: usize, conc: usize) -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri: hyper::Uri = format!("{base}/v1/recommend").parse()?;
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..conc {
        let (client, uri, next, errors) =
            (client.clone(), uri.clone(), next.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let body =
                    serde_json::json!({"instruction": REQUESTS[i % REQUESTS.len()], "top_k": 5})
                        .to_string();
                let req = Request::post(uri.clone())
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .expect("valid request");
                let t = Instant::now();
                let ok = match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let body = resp.into_body().collect().await.map(|b| b.to_bytes());
                        status.is_success()
                            && body.is_ok_and(|b| {
                                serde_json::from_slice::<serde_json::Value>(&b).is_ok_and(|v| {
                                    v["ranked"].as_array().is_some_and(|r| !r.is_empty())
                                })
                            })
                    }
                    Err(_) => false,
                };
                lat.push(t.elapsed());
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            lat
        }));
    }
    let mut lat: Vec<Duration> = Vec::with_capacity(total);
    for w in workers {
        lat.extend(w.await?);
    }
    let wall = start.elapsed();
    lat.sort();
    let pct = |p: f64| {
        lat[((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1].as_secs_f64() * 1e3
    };
    let report = serde_json::json!({
        "requests": lat.len(),
        "concurrency": conc,
        "errors": errors.load(Ordering::Relaxed),
        "wall_s": wall.as_secs_f64(),
        "throughput_rps": lat.len() as f64 / wall.as_secs_f64(),
        "latency_ms": {"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": pct(1.0)},
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if errors.load(Ordering::Relaxed) > 0 {
        std::process::exit(1);
    }
    Ok(())
}
