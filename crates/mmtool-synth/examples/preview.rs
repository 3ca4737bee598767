//! Renders every picture kind from one base photo, for looking at:
//!
//!   cargo run -p mmtool-synth --example preview -- PHOTO OUT_DIR [SEED]

use mmtool_synth::kind::{Condition, Degradation};
use mmtool_synth::render::{render, Picture};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, photo, out, ..] = args.as_slice() else {
        anyhow::bail!("usage: preview PHOTO OUT_DIR [SEED]");
    };
    let seed: u64 = args.get(3).map_or(Ok(1), |s| s.parse())?;
    let photo = image::open(photo)?.to_rgb8();
    std::fs::create_dir_all(out)?;
    let mut pictures: Vec<Picture> = Condition::ALL
        .iter()
        .map(|&condition| Picture::Condition {
            condition,
            dark_on_light: false,
        })
        .collect();
    pictures.extend(
        Degradation::ALL
            .iter()
            .map(|&degradation| Picture::Degraded {
                degradation,
                small: None,
                jpeg: false,
            }),
    );
    for p in &pictures {
        let r = render(p, &photo, 512, 512, seed);
        let name = format!("{out}/{}.{}", p.name().replace(' ', "_"), p.extension());
        std::fs::write(&name, r.encode(p.extension())?)?;
        println!("{name}");
    }
    Ok(())
}
