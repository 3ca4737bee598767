//! 200 malformed requests of many kinds: each gets a 4xx JSON error with the
//! expected code, and the server keeps serving afterwards.

mod common;

use std::time::Duration;

use common::*;
use hyper::{Method, StatusCode};
use mmtool_server::ServerConfig;

const LIMIT: usize = 64 * 1024;

/// (what, method, content type, body, expected status, expected code)
type Case = (String, Option<String>, Vec<u8>, StatusCode, &'static str);

fn json(body: &str, status: StatusCode, code: &'static str) -> Case {
    (
        body.chars().take(60).collect(),
        Some("application/json".into()),
        body.as_bytes().to_vec(),
        status,
        code,
    )
}

fn form(what: &str, f: Form, status: StatusCode, code: &'static str) -> Case {
    (what.into(), Some(f.content_type()), f.body(), status, code)
}

fn with_file(name: &str, data: &[u8]) -> Form {
    Form::default()
        .text("instruction", "what is in this file")
        .file("file", name, "image/png", data)
}

/// Case `i` of the 200: the kinds cycle, and each repeat varies its bytes.
fn case(i: usize) -> Case {
    use StatusCode as S;
    const BAD: S = S::BAD_REQUEST;
    const UNPROC: S = S::UNPROCESSABLE_ENTITY;
    const UNSUP: S = S::UNSUPPORTED_MEDIA_TYPE;
    let n = i as u64;
    let path_names = [
        "../../../../etc/passwd",
        "/etc/shadow",
        "..\\..\\windows\\win.ini",
        "a/b/../../c.png",
        "%2e%2e%2fsecret",
        "name\u{0}with-nul.png",
    ];
    let mut truncated_png = png(16, 16)[..8].to_vec();
    truncated_png.extend(noise(n, 40 + i));
    let mut truncated_wav = wav(100)[..12].to_vec();
    truncated_wav.extend(noise(n, 30 + i));
    match i % 25 {
        0 => json(&format!("{{\"instruction\": \"x{i}\""), BAD, "bad_json"),
        1 => json(&format!("not json {i}"), BAD, "bad_json"),
        2 => json(
            &format!("{{\"instruction\": \"a\", \"top_k\": {i},}}"),
            BAD,
            "bad_json",
        ),
        3 => json(
            &format!("{{\"instruction\": {i}}}"),
            UNPROC,
            "invalid_field",
        ),
        4 => json(
            &format!("{{\"instruction\": [\"{i}\"]}}"),
            UNPROC,
            "invalid_field",
        ),
        5 => json(
            &format!("{{\"instruction\": \"a\", \"top_k\": \"{i}\"}}"),
            UNPROC,
            "invalid_field",
        ),
        6 => json(
            &format!("{{\"instruction\": \"a\", \"top_k\": -{}}}", i + 1),
            UNPROC,
            "invalid_field",
        ),
        7 => json(
            &format!("{{\"instruction\": \"a\", \"top_k\": {}}}", 1000 + i),
            UNPROC,
            "invalid_field",
        ),
        8 => json(
            &format!("{{\"instruction\": \"a\", \"modality\": \"smell{i}\"}}"),
            UNPROC,
            "invalid_field",
        ),
        9 => json(
            &format!("{{\"instruction\": \"a\", \"extra{i}\": 1}}"),
            UNPROC,
            "invalid_field",
        ),
        10 => json(
            ["[]", "null", "\"text\"", "42"][i / 25 % 4],
            UNPROC,
            "invalid_field",
        ),
        11 => json(
            [
                "{}",
                "{\"instruction\": \"   \"}",
                "{\"instruction\": null}",
                "{\"top_k\": 3}",
            ][i / 25 % 4],
            UNPROC,
            "missing_instruction",
        ),
        12 => json(
            &format!("{{\"instruction\": \"{}\"}}", "word ".repeat(900 + i)),
            UNPROC,
            "invalid_field",
        ),
        13 => {
            let ct = [
                "text/plain",
                "application/x-www-form-urlencoded",
                "image/png",
                "application/xml",
            ][i / 25 % 4];
            (
                ct.into(),
                Some(ct.into()),
                format!("instruction=x{i}").into_bytes(),
                UNSUP,
                "unsupported_content_type",
            )
        }
        14 => (
            "no content type".into(),
            None,
            b"{\"instruction\": \"a\"}".to_vec(),
            UNSUP,
            "unsupported_content_type",
        ),
        15 => (
            "multipart without boundary".into(),
            Some("multipart/form-data".into()),
            b"--x\r\n".to_vec(),
            BAD,
            "bad_multipart",
        ),
        16 => {
            let mut body = Form::default()
                .text("instruction", "hello")
                .file("file", "a.png", "image/png", &png(8, 8))
                .body();
            body.truncate(body.len() - 10 - i / 25);
            (
                "truncated multipart".into(),
                Some(Form::default().content_type()),
                body,
                BAD,
                "bad_multipart",
            )
        }
        17 => form(
            "unknown field",
            Form::default()
                .text("instruction", "a")
                .text(&format!("colour{i}"), "red"),
            UNPROC,
            "invalid_field",
        ),
        18 => form(
            "top_k not a number",
            Form::default()
                .text("instruction", "a")
                .text("top_k", &format!("{i}abc")),
            UNPROC,
            "invalid_field",
        ),
        19 => form(
            "form without instruction",
            Form::default()
                .text("top_k", "3")
                .file("file", "a.png", "image/png", &png(4, 4)),
            UNPROC,
            "missing_instruction",
        ),
        20 => {
            let name = path_names[i / 25 % path_names.len()];
            // A NUL byte is not allowed in a part header at all.
            let (status, code) = if name.contains('\0') {
                (BAD, "bad_multipart")
            } else {
                (UNSUP, "unsupported_media")
            };
            form(
                "noise with path-like name",
                with_file(name, &noise(n, 64 + i)),
                status,
                code,
            )
        }
        21 => match i / 25 % 3 {
            0 => form(
                "corrupt png",
                with_file("x.png", &truncated_png),
                UNPROC,
                "corrupt_media",
            ),
            1 => form(
                "corrupt wav",
                with_file("x.wav", &truncated_wav),
                UNPROC,
                "corrupt_media",
            ),
            _ => form(
                "pdf",
                with_file("x.pdf", format!("%PDF-1.{i} junk").as_bytes()),
                UNSUP,
                "unsupported_media",
            ),
        },
        22 => match i / 25 % 2 {
            0 => form(
                "empty named file",
                with_file("empty.png", b""),
                UNPROC,
                "empty_file",
            ),
            _ => form(
                "modality mismatch",
                with_file("a.png", &png(4, 4)).text("modality", "audio"),
                UNPROC,
                "modality_mismatch",
            ),
        },
        23 => {
            let body = format!("{{\"instruction\": \"{}\"}}", "a".repeat(LIMIT + i));
            (
                "oversize json".into(),
                Some("application/json".into()),
                body.into_bytes(),
                S::PAYLOAD_TOO_LARGE,
                "payload_too_large",
            )
        }
        _ => form(
            "oversize file",
            with_file("big.png", &noise(n, LIMIT + 1000 + i)),
            S::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_malformed_requests_get_json_4xx_and_server_keeps_serving() {
    let cfg = ServerConfig {
        body_limit: LIMIT,
        request_timeout: Duration::from_secs(20),
        max_concurrency: 2,
        ..ServerConfig::default()
    };
    let s = TestServer::start(bm25(), cfg).await;
    let mut seen_codes = std::collections::BTreeSet::new();
    for i in 0..200 {
        let (what, ct, body, want_status, want_code) = case(i);
        let r = s
            .send(Method::POST, "/v1/recommend", ct.as_deref(), body)
            .await;
        assert!(
            r.status.is_client_error(),
            "case {i} ({what}): status {} {}",
            r.status,
            r.text
        );
        assert!(
            r.content_type.starts_with("application/json"),
            "case {i} ({what}): {}",
            r.content_type
        );
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (want_status, want_code),
            "case {i} ({what}): {}",
            r.text
        );
        seen_codes.insert(want_code);
        if i % 50 == 49 {
            let ok = s
                .post_json(r#"{"instruction": "summarize this article"}"#)
                .await;
            assert_eq!(
                ok.status,
                StatusCode::OK,
                "server still serves after case {i}: {}",
                ok.text
            );
        }
    }
    assert!(seen_codes.len() >= 10, "{seen_codes:?}");
    assert_eq!(s.leftover_uploads(), 0, "no upload is left behind");

    let metrics = s.get("/metrics").await.text;
    let errors: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("mmtool_http_errors_total{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(errors, 200, "{metrics}");
    let ok = s
        .post_json(r#"{"instruction": "translate German into English"}"#)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    s.stop().await;
}
