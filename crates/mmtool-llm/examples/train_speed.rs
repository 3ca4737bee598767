//! Seconds per training example: LoRA on all layers vs upper layers with the
//! frozen lower layers cached, on the same real training examples, in one run.
//!
//! `cargo run --release -p mmtool-llm --example train_speed -- /work/shared/toolmmbench 48`

use std::time::Instant;

use anyhow::Result;
use candle_core::Device;
use indicatif::ProgressBar;
use mmtool_catalog::Catalog;
use mmtool_data::{load_items, LoadOptions};
use mmtool_llm::llama::{LoraConfig, Mllm};
use mmtool_llm::load::{default_backbone, BaseModel};
use mmtool_llm::train::{batch_loss, cache_lower, encode_items, epoch_batches, AdamW, Example};
use mmtool_llm::{lower_cache, PromptEncoder};

fn main() -> Result<()> {
    mmtool_data::runtime::keep_freed_memory();
    mmtool_data::fix_thread_count();
    let args: Vec<String> = std::env::args().collect();
    let data = std::path::PathBuf::from(
        args.get(1)
            .map(String::as_str)
            .unwrap_or("/work/shared/toolmmbench"),
    );
    let n: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(48);
    let dev = Device::Cpu;
    let catalog = Catalog::load_dir(&data)?;
    let items: Vec<_> = load_items(
        &data.join("train_synth.json"),
        LoadOptions { unique_ids: false },
    )?
    .into_iter()
    .filter(|i| catalog.contains(&i.answers[0]))
    .take(n)
    .collect();
    let base = BaseModel::load(&default_backbone(), &dev)?;
    let enc = PromptEncoder::new(base.tokenizer.clone());
    let (examples, _) = encode_items(&enc, &items, 128)?;
    let mean_len =
        examples.iter().map(|e| e.ids.len()).sum::<usize>() as f64 / examples.len() as f64;
    println!(
        "{} examples, mean {:.1} tokens, batch 8",
        examples.len(),
        mean_len
    );
    for (name, layers, cache) in [
        ("naive: LoRA r=32 on all 30 layers", Vec::new(), false),
        (
            "upper: LoRA r=32 on layers 22-29, layers 0-21 cached",
            (22..30).collect(),
            true,
        ),
        (
            "upper: LoRA r=32 on layers 26-29 (configs/default.toml), layers 0-25 cached",
            (26..30).collect(),
            true,
        ),
    ] {
        let lora = LoraConfig {
            layers,
            ..LoraConfig::default()
        };
        let m = Mllm::new(
            base.config.clone(),
            base.var_builder(&dev),
            lora.clone(),
            512,
        )?;
        m.reset_trainable(1)?;
        let from = if cache { lora.first_layer() } else { 0 };
        let t0 = Instant::now();
        let cached = if cache {
            Some(cache_lower(
                &m,
                &examples,
                from,
                16,
                &ProgressBar::hidden(),
            )?)
        } else {
            None
        };
        let t_cache = t0.elapsed().as_secs_f64();
        // A later run reads the cache that `mmtool train` kept on disk.
        let t_read = match &cached {
            Some(c) => {
                let dir = tempfile::tempdir()?;
                let key = lower_cache::key("train_speed", from, base.config.hidden_size, &examples);
                let path = lower_cache::file_for(dir.path(), &key);
                lower_cache::save(&path, &key, c)?;
                let t = Instant::now();
                let back = lower_cache::load(&path, &key, &examples, base.config.hidden_size)?;
                let secs = t.elapsed().as_secs_f64();
                assert_eq!(back.len(), c.len());
                secs
            }
            None => 0.,
        };
        let mut opt = AdamW::new(0.);
        let t1 = Instant::now();
        for idx in epoch_batches(&examples, 8, 1, 0) {
            let exs: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
            let h = match &cached {
                Some(c) => candle_core::Tensor::stack(
                    &idx.iter()
                        .map(|&i| c[i].clone().expect("text-only examples are cached"))
                        .collect::<Vec<_>>(),
                    0,
                )?,
                None => {
                    let ids: Vec<_> = exs
                        .iter()
                        .map(|e| candle_core::Tensor::new(e.ids.as_slice(), &dev))
                        .collect::<candle_core::Result<_>>()?;
                    m.embed_tokens(&candle_core::Tensor::stack(&ids, 0)?)?
                }
            };
            let (loss, _, _) = batch_loss(&m, &h, &exs, from)?;
            let g = loss.backward()?;
            let grads = m
                .varmap()
                .data()
                .lock()
                .expect("lock")
                .iter()
                .filter_map(|(k, v)| g.get(v.as_tensor()).map(|t| (k.clone(), t.clone())))
                .collect();
            opt.step(&m, &grads, 1e-4)?;
        }
        let t_train = t1.elapsed().as_secs_f64();
        let per = t_train / examples.len() as f64;
        let n = examples.len() as f64;
        println!(
            "{name}: cache {:.3} s/example (once), train {:.3} s/example per epoch; first epoch {:.3} s/example, later epochs {:.3}; kept cache read back {:.2} ms/example, so a later run's first epoch {:.3}",
            t_cache / n,
            per,
            per + t_cache / n,
            per,
            1e3 * t_read / n,
            per + t_read / n
        );
    }
    Ok(())
}
