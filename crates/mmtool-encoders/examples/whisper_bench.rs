//! Latency of Whisper-base on a 10 s clip: log-mel, encoder (+ pooling) and the language-ID
//! decoder step, with a fixed candle matmul timed in the same loop as a machine-speed baseline
//! (this machine is shared, so absolute times drift; the ratios are what to compare).
//!
//! `cargo run --release -p mmtool-encoders --example whisper_bench -- --reps 5`

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use mmtool_encoders::Whisper;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let mut reps = 5usize;
    let mut seconds = 10.0f32;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--reps" => reps = args.next().context("--reps needs a value")?.parse()?,
            "--seconds" => seconds = args.next().context("--seconds needs a value")?.parse()?,
            "-h" | "--help" => {
                println!(
                    "whisper_bench [--reps N (default 5)] [--seconds S (clip length, default 10)]\n\
                     Times Whisper-base log-mel, encoder and language ID; weights from\n\
                     $MMTOOL_CACHE/models/whisper (default ~/.cache/mmtool)."
                );
                return Ok(());
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    let cache = std::env::var_os("MMTOOL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/mmtool")))
        .context("neither MMTOOL_CACHE nor HOME is set")?;
    let dir = cache.join("models/whisper");

    let t = Instant::now();
    let whisper = Whisper::load(&dir)?;
    println!("load: {:.2} s", t.elapsed().as_secs_f64());

    // Deterministic speech-like test signal (a rising tone with a slow envelope); the cost of
    // every stage is independent of the content because the window is always 30 s.
    let n = (seconds * 16_000.0) as usize;
    let audio: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f32 / 16_000.0;
            0.3 * (2.0 * std::f32::consts::PI * (150.0 + 40.0 * t) * t).sin()
                * (0.5 + 0.5 * (3.0 * t).sin())
        })
        .collect();

    let a = Tensor::ones((1500, 512), candle_core::DType::F32, &Device::Cpu)?;
    let b = Tensor::ones((512, 2048), candle_core::DType::F32, &Device::Cpu)?;
    let (mut base, mut mel, mut embed, mut full) = (vec![], vec![], vec![], vec![]);
    whisper.analyze(&audio, 3)?; // warm-up
    for _ in 0..reps {
        let t = Instant::now();
        a.matmul(&b)?.sum_all()?.to_scalar::<f32>()?;
        base.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        whisper.features(&audio)?;
        mel.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        whisper.embed(&audio)?;
        embed.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let r = whisper.analyze(&audio, 3)?;
        full.push(t.elapsed().as_secs_f64());
        std::hint::black_box(r);
    }
    let (base, mel, embed, full) = (median(base), median(mel), median(embed), median(full));
    println!("{seconds} s clip, {reps} reps, medians:");
    println!("  baseline matmul 1500x512x2048: {:7.1} ms", base * 1e3);
    println!(
        "  log-mel (30 s window):         {:7.1} ms  ({:.1}x baseline)",
        mel * 1e3,
        mel / base
    );
    println!(
        "  embed (mel + encoder + pool):  {:7.1} ms  ({:.1}x baseline)",
        embed * 1e3,
        embed / base
    );
    println!(
        "  analyze (embed + language ID): {:7.1} ms  ({:.1}x baseline)",
        full * 1e3,
        full / base
    );
    println!(
        "  language-ID decoder step:      {:7.1} ms  (analyze - embed)",
        (full - embed) * 1e3
    );
    Ok(())
}
