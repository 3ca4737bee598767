//! Image-encoder latency on already-decoded images (decode time excluded).
//!
//!   cargo run --release -p mmtool-encoders --example bench_vision -- [--iters N] [--imagebind] [IMAGE ...]
//!
//! Default images: the scikit-image photos from scripts/fetch-test-images.sh.
//! Prints the median per-image time of preprocessing (crop, resize, normalise)
//! and of the EfficientNet-Lite0 forward pass with the direct depthwise kernel
//! and with candle's grouped conv2d, run interleaved so machine load affects both
//! alike. `--imagebind` also times the ImageBind-H vision tower with zero weights
//! (same arithmetic as the real checkpoint, which is not redistributable here).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use mmtool_encoders::efficientnet::{preprocess, DepthwiseImpl, EfficientNet, IMAGE_SIZE};
use mmtool_encoders::imagebind::{self, ImageBind};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let mut iters = 10usize;
    let mut with_imagebind = false;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--iters" => iters = args.next().context("--iters needs a number")?.parse()?,
            "--imagebind" => with_imagebind = true,
            "-h" | "--help" => {
                println!("usage: bench_vision [--iters N] [--imagebind] [IMAGE ...]");
                return Ok(());
            }
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        let dir = std::env::var_os("MMTOOL_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/mmtool")
            })
            .join("testdata/skimage");
        for n in ["chelsea.png", "coffee.png", "astronaut.png"] {
            paths.push(dir.join(n));
        }
    }
    let images = paths
        .iter()
        .map(|p| {
            Ok(image::open(p)
                .with_context(|| format!("{}: cannot decode image", p.display()))?
                .to_rgb8())
        })
        .collect::<Result<Vec<_>>>()?;
    if images.is_empty() {
        bail!("no images");
    }
    let dev = Device::Cpu;
    let t = Instant::now();
    let mut model = EfficientNet::load(&EfficientNet::default_dir())?;
    println!(
        "efficientnet load: {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );

    let (mut pre, mut direct, mut grouped) = (Vec::new(), Vec::new(), Vec::new());
    // Warm-up (allocator, thread pools).
    let x0 = preprocess(&images[0], IMAGE_SIZE, &dev)?.unsqueeze(0)?;
    model.forward_features(&x0)?;
    for _ in 0..iters {
        for img in &images {
            let t = Instant::now();
            let x = preprocess(img, IMAGE_SIZE, &dev)?.unsqueeze(0)?;
            pre.push(t.elapsed().as_secs_f64() * 1e3);
            for (imp, out) in [
                (DepthwiseImpl::Direct, &mut direct),
                (DepthwiseImpl::Grouped, &mut grouped),
            ] {
                model.set_depthwise_impl(imp);
                let t = Instant::now();
                model.forward_features(&x)?;
                out.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
    }
    let (p, d, g) = (median(pre), median(direct), median(grouped));
    println!("images: {}, iterations: {iters}", images.len());
    println!("preprocess (crop+resize+normalise): {p:.2} ms");
    println!("efficientnet forward, direct depthwise: {d:.2} ms");
    println!("efficientnet forward, grouped conv2d:   {g:.2} ms");
    println!("ratio grouped/direct: {:.2}", g / d);

    if with_imagebind {
        let cfg = imagebind::Config::huge();
        let ib = ImageBind::new(&cfg, VarBuilder::zeros(DType::F32, &dev))?;
        let x = imagebind::preprocess_image(&images[0], 224, &dev)?.unsqueeze(0)?;
        ib.vision.forward(&x)?;
        let mut ibt = Vec::new();
        let mut eff = Vec::new();
        model.set_depthwise_impl(DepthwiseImpl::Direct);
        for _ in 0..iters.min(3) {
            let t = Instant::now();
            ib.vision.forward(&x)?;
            ibt.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            model.forward_features(&x0)?;
            eff.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let (a, b) = (median(ibt), median(eff));
        println!("imagebind-H vision forward: {a:.1} ms (efficientnet in the same loop: {b:.2} ms, ratio {:.1})", a / b);
    }
    Ok(())
}
