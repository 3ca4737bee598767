//! The shipped adapter reads what the encoders see: `recommend --backend mllm` with an attached
//! audio, image or video file projects the encoders' features into the prompt's media token (the
//! findings say "used") and shows what they found (spoken language, ImageNet labels). Needs the
//! real weights (scripts/fetch-weights.sh), espeak-ng and ffmpeg (scripts/setup.sh); says
//! SKIPPED otherwise.

mod common;

use std::process::Command as Proc;

use common::Fixture;
use serde_json::Value;

fn ready() -> bool {
    if !common::weights_present(&[
        "models/efficientnet/model.safetensors",
        "models/whisper/model.bin",
        "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    ]) {
        return false;
    }
    for tool in ["espeak-ng", "ffmpeg"] {
        if Proc::new(tool).arg("--version").output().is_err() {
            eprintln!("SKIPPED: {tool} not installed; run scripts/setup.sh");
            return false;
        }
    }
    true
}

fn run(tool: &str, args: &[&str]) {
    let out = Proc::new(tool).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn recommend_projects_audio_image_and_video_into_the_media_token() {
    if !ready() {
        return;
    }
    let fx = Fixture::new();
    let p = |n: &str| fx.path(n).to_str().unwrap().to_string();
    run(
        "espeak-ng",
        &[
            "-v",
            "de",
            "-w",
            &p("speech_de.wav"),
            "Der Zug nach Berlin fährt jeden Morgen um acht Uhr ab. Ich trinke gern Kaffee mit Milch.",
        ],
    );
    run(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240",
            "-frames:v",
            "1",
            &p("chart.png"),
        ],
    );
    run(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=2:size=320x240:rate=10",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            &p("clip.mp4"),
        ],
    );
    let cases = [
        ("--audio", "speech_de.wav", "what is being said?"),
        ("--image", "chart.png", "what is in this picture?"),
        ("--video", "clip.mp4", "what happens in this clip?"),
    ];
    for (flag, file, request) in cases {
        let out = fx
            .cmd()
            .args(["recommend", "--backend", "mllm", "--json", request, flag])
            .arg(fx.path(file))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{flag} {file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["backend"], "mllm", "{v}");
        let f = &v["findings"];
        let note = f["media_token"].as_str().unwrap_or_default();
        assert!(
            note.starts_with("used"),
            "{flag}: media token {note:?}\n{v}"
        );
        assert!(!v["ranked"].as_array().unwrap().is_empty(), "{v}");
        match flag {
            "--audio" => assert_eq!(f["languages"][0][0], "de", "{f}"),
            "--image" => assert!(!f["labels"].as_array().unwrap().is_empty(), "{f}"),
            _ => {
                assert!(!f["labels"].as_array().unwrap().is_empty(), "{f}");
                assert!(!f["languages"].as_array().unwrap().is_empty(), "{f}");
            }
        }
    }
}
