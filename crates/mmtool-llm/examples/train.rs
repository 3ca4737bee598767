//! Same as `mmtool train --config FILE [--resume]`, without building the CLI.
//!
//! `cargo run -p mmtool-llm --example train -- configs/default.toml /work/shared/toolmmbench [--resume]`

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        anyhow::bail!("usage: train CONFIG.toml DATA_DIR [--resume]");
    }
    let cfg = mmtool_llm::train::TrainConfig::load(std::path::Path::new(&args[1]))?;
    let resume = args.iter().any(|a| a == "--resume");
    let out = mmtool_llm::train::run(cfg, std::path::Path::new(&args[2]), resume, None)?;
    eprintln!("adapter written to {}", out.display());
    Ok(())
}
