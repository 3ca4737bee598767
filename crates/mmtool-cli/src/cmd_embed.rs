//! `mmtool embed`: what the frozen encoders see in a file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mmtool_encoders::Perceiver;
use mmtool_media::Limits;

use crate::backends::check_media_file;

#[derive(Args)]
#[command(
    after_help = "Images go through EfficientNet-Lite0 (1280-d, plus ImageNet top-5 labels); audio through \
the Whisper-base encoder (512-d, plus the spoken language); video through both (mean of 8 frames' image \
embeddings concatenated with the audio track's, 1792-d). Weights: scripts/fetch-weights.sh."
)]
pub struct EmbedArgs {
    /// Image, audio or video file (the format is read from the content, not the name).
    pub file: PathBuf,
    /// Print JSON, including the embedding itself.
    #[arg(long)]
    pub json: bool,
    /// Encode now even if the content-hash embedding cache (<cache>/embeddings) has this file.
    #[arg(long)]
    pub no_cache: bool,
}

pub fn run(a: EmbedArgs) -> Result<ExitCode> {
    check_media_file(&a.file)?;
    let mut perceiver = Perceiver::new(Perceiver::default_cache_dir(), Limits::default());
    if !a.no_cache {
        perceiver = perceiver.with_embedding_cache(Perceiver::default_embedding_cache());
    }
    let p = perceiver.perceive(&a.file, None)?;
    if a.json {
        let mut v = serde_json::to_value(&p)?;
        v["norm"] = serde_json::json!(p.norm());
        v["dim"] = serde_json::json!(p.embedding.len());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}: {} ({})", a.file.display(), p.modality, p.format);
    println!(
        "  embedding: {} dims, L2 norm {:.3}",
        p.embedding.len(),
        p.norm()
    );
    for (label, prob) in &p.labels {
        println!("  image label: {label} ({:.1} %)", prob * 100.0);
    }
    for (lang, prob) in &p.languages {
        println!("  language: {lang} ({:.1} %)", prob * 100.0);
    }
    println!(
        "  decode {:.0} ms, encode {:.0} ms{}",
        p.decode_ms,
        p.encode_ms,
        if p.cached {
            " (when first encoded; read from the embedding cache now, --no-cache to re-encode)"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
