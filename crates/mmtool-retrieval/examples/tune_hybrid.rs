//! Tunes the hybrid scoring (BM25 weight and the fixed score of `unknown`)
//! and the centroid cap on the training dev split, never on test.json.
//!
//! The dev set is the seeded 5 % dev split of the training files plus every
//! training request whose answer is `unknown` (with a fixed score, `unknown`
//! has no vector in the index, so those requests are used nowhere else).
//! The index and BM25 are built from the rest. With `--test FILE` the grid
//! is printed for that file instead: for measuring a chosen setting only.
//!
//! The queries go through the shipped tuned encoder layers when the
//! repository has them (`--linear` uses the shipped linear adapter instead).
//!
//! `--tuned A,B` averages the query vectors of several tuned-layer files.
//! `--language` prints a grid over the weight of the quoted text's language
//! (session 9).
//! `--hub` prints a grid over a hubness correction (CSLS on the tool side;
//! `--uncentred` drops the centring).
//! `--knn` prints a grid that mixes nearest training instructions into the
//! centroid scores instead (docs/retrieval.md, session 8).
//!
//! `--quotes mask|language|hint` changes what the query encoder reads of
//! quoted text, `--penalty P` the modality penalty, `--card-weight W` the
//! card's share of each tool vector.
//!
//! cargo run --release -p mmtool-retrieval --example tune_hybrid -- [--max-per-tool N] [--card-weight W] [--penalty P] [--with-instructions] [--linear] [--tuned A,B] [--knn] [--hub [--uncentred]] [--language] [--quotes MODE] [--test FILE]
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use mmtool_catalog::{Catalog, UNKNOWN_ID};
use mmtool_data::{load_items, resolve_data_dir, Item, LoadOptions};
use mmtool_recommend::bm25::{Bm25Config, Bm25Recommender};
use mmtool_recommend::Query;
use mmtool_retrieval::adapter::Adapter;
use mmtool_retrieval::eval::dev_split;
use mmtool_retrieval::index::{default_cache_dir, instructions_per_tool, store_path, CardParts};
use mmtool_retrieval::minilm::{default_model_dir, normalize, MiniLm, MODEL_ID};
use mmtool_retrieval::recommender::{
    language_fits, lexical_scores, recall_scored, row_languages, Scoring, SHIPPED_ADAPTER,
    SHIPPED_TUNED,
};
use mmtool_retrieval::search::dot;
use mmtool_retrieval::store::{fnv1a, EmbeddingStore};
use mmtool_retrieval::tuned::TunedLayers;
use mmtool_retrieval::CardIndex;

fn arg(name: &str) -> Option<String> {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|x| x == name)
        .and_then(|i| a.get(i + 1).cloned())
}

fn main() -> Result<()> {
    let hub = std::env::args().any(|a| a == "--hub");
    if hub && (arg("--tuned").is_some() || std::env::args().any(|a| a == "--linear")) {
        anyhow::bail!(
            "--hub measures the shipped tuned query side; leave out --tuned and --linear"
        );
    }
    let data = resolve_data_dir(None)?;
    let max_per_tool: usize = arg("--max-per-tool").map_or(Ok(30), |v| v.parse())?;
    let card_weight: f32 = arg("--card-weight").map_or(Ok(0.3), |v| v.parse())?;
    let mismatch_penalty: f32 =
        arg("--penalty").map_or(Ok(Scoring::default().mismatch_penalty), |v| v.parse())?;
    let catalog = Arc::new(Catalog::load(&data.join("catalog.jsonl"))?);
    let mut all = Vec::new();
    for f in ["train_synth.json", "train_audio.json", "train_video.json"] {
        all.extend(load_items(
            &data.join(f),
            LoadOptions { unique_ids: false },
        )?);
    }
    let is_unknown = |i: &Item| i.answers.iter().any(|a| a == UNKNOWN_ID);
    let (train, dev) = dev_split(&all, 0.05, 13);
    let train: Vec<Item> = train.into_iter().filter(|i| !is_unknown(i)).collect();
    let items: Vec<Item> = match arg("--test") {
        Some(f) => load_items(&PathBuf::from(f), LoadOptions::default())?,
        None => {
            let mut v: Vec<Item> = dev.into_iter().filter(|i| !is_unknown(i)).collect();
            v.extend(all.iter().filter(|i| is_unknown(i)).cloned());
            v
        }
    };
    let model = MiniLm::load(&default_model_dir())?;
    let mut store = EmbeddingStore::open(&store_path(&default_cache_dir()), MODEL_ID, model.dim());
    let parts = CardParts::build(&model, &mut store, &catalog, &train, max_per_tool)?;
    let index = CardIndex::from_parts(&catalog, &parts, card_weight);
    let rewritten: Vec<String> = items
        .iter()
        .map(|i| rewrite_quotes(&i.instruction, arg("--quotes").as_deref()))
        .collect::<Result<_>>()?;
    let texts: Vec<&str> = rewritten.iter().map(String::as_str).collect();
    let tuned = PathBuf::from(SHIPPED_TUNED);
    let qs = if let Some(files) = arg("--tuned") {
        // Several tuned query sides: their unit vectors averaged (an ensemble).
        let mut sum = vec![0f32; texts.len() * model.dim()];
        for f in files.split(',') {
            println!("queries: tuned layers {f}");
            let enc = MiniLm::load_tuned(
                &default_model_dir(),
                Some(&TunedLayers::load(&PathBuf::from(f))?),
            )?;
            for (s, v) in sum
                .iter_mut()
                .zip(enc.embed_with_progress(&texts, "queries")?)
            {
                *s += v;
            }
        }
        sum.chunks_mut(model.dim()).for_each(normalize);
        sum
    } else if tuned.exists() && std::env::args().all(|a| a != "--linear") {
        println!("queries: tuned layers {}", tuned.display());
        let enc = MiniLm::load_tuned(&default_model_dir(), Some(&TunedLayers::load(&tuned)?))?;
        enc.embed_with_progress(&texts, "queries")?
    } else {
        println!("queries: linear adapter {SHIPPED_ADAPTER}");
        let raw = store.get_or_embed(&model, &texts, "queries")?;
        store.save()?;
        let adapter = Adapter::load(&PathBuf::from(SHIPPED_ADAPTER), model.dim())
            .context("run from the repository root")?;
        adapter.apply(&raw)?
    };
    // BM25 over card text alone (the backend's choice); `--with-instructions`
    // adds the tools' training instructions to their documents.
    let cards_only = std::env::args().all(|a| a != "--with-instructions");
    let bm = Bm25Recommender::build(
        catalog.clone(),
        if cards_only { &[] } else { &train },
        Bm25Config::default(),
    );
    let lex: Vec<Vec<f32>> = items
        .iter()
        .map(|i| lexical_scores(bm.scores(&Query::from_item(i)), catalog.len()))
        .collect();
    let n_unknown = items.iter().filter(|i| is_unknown(i)).count();
    println!(
        "{} items ({n_unknown} unknown), max_per_tool {max_per_tool}, card_weight {card_weight}",
        items.len()
    );
    let grid = Grid {
        index: &index,
        qs: &qs,
        items: &items,
        lex: &lex,
        no_language: vec![None; items.len()],
    };
    if std::env::args().any(|a| a == "--language") {
        return language_grid(&grid, &catalog);
    }
    if hub {
        return hub_grid(&grid, &model, &train);
    }
    if std::env::args().any(|a| a == "--knn") {
        return knn_grid(&grid, &catalog, &mut store, &model, &train, max_per_tool);
    }
    println!("lexical unknown   R@1    R@10   R@50");
    for lexical_weight in [0.0f32, 0.05, 0.1, 0.15, 0.2, 0.3] {
        for unknown_score in [None, Some(0.25f32), Some(0.3), Some(0.35), Some(0.4)] {
            let scoring = Scoring {
                mismatch_penalty,
                lexical_weight,
                unknown_score,
                language_weight: 0.0,
            };
            let m = grid.recall(&lex, &grid.no_language, &scoring);
            let u = unknown_score.map_or("card".to_string(), |t| format!("{t:.2}"));
            println!("{lexical_weight:>7.2} {u:>7} {}", recalls(&m));
        }
    }
    Ok(())
}

/// What the query encoder reads of quoted text (`--quotes`): `mask` puts
/// `...` in its place, `language` the name of its language (`Finnish text`,
/// or `...` when it is too short to call), `hint` keeps it and adds the name
/// in brackets at the end. Without the flag the request is read as written.
fn rewrite_quotes(text: &str, mode: Option<&str>) -> Result<String> {
    use mmtool_recommend::language::{detect_quoted, quoted_spans};
    let Some(mode) = mode else {
        return Ok(text.to_string());
    };
    let name = || detect_quoted(text).and_then(|d| d.name());
    if mode == "hint" {
        return Ok(match name() {
            Some(n) => format!("{text} ({n} text)"),
            None => text.to_string(),
        });
    }
    let with = match mode {
        "mask" => "...".to_string(),
        "language" => name().map_or("...".to_string(), |n| format!("{n} text")),
        _ => anyhow::bail!("--quotes takes mask, language or hint, not {mode:?}"),
    };
    let mut out = String::new();
    let mut at = 0;
    for span in quoted_spans(text) {
        let start = span.as_ptr() as usize - text.as_ptr() as usize;
        out.push_str(&text[at..start]);
        out.push_str(&with);
        at = start + span.len();
    }
    out.push_str(&text[at..]);
    Ok(out)
}

/// The language fit of quoted text at several weights, beside the backend's
/// other settings. `reward` is the backend's fit (the detector's confidence
/// for tools whose card lists the language); `signed` also subtracts it from
/// tools whose card lists only other languages; `plain` is `signed` as +1 /
/// -1; `foreign` is `signed` for non-English quotes only.
fn language_grid(grid: &Grid, catalog: &Catalog) -> Result<()> {
    use mmtool_recommend::language::detect_quoted;
    let items = grid.items;
    let langs = row_languages(catalog, grid.index);
    // Each quote is detected once; `reward` is the backend's fit.
    let detected: Vec<_> = items
        .iter()
        .map(|i| detect_quoted(&i.instruction))
        .collect();
    let reward: Vec<Option<Vec<f32>>> = detected
        .iter()
        .map(|d| Some(language_fits(&langs, d.as_ref()?)))
        .collect();
    let signed: Vec<Option<Vec<f32>>> = reward
        .iter()
        .zip(&detected)
        .map(|(r, d)| {
            let c = d.as_ref()?.confidence;
            Some(
                r.as_ref()?
                    .iter()
                    .zip(&langs)
                    .map(|(&x, l)| if x == 0.0 && !l.is_empty() { -c } else { x })
                    .collect(),
            )
        })
        .collect();
    let plain: Vec<Option<Vec<f32>>> = signed
        .iter()
        .map(|v| {
            v.as_ref().map(|v| {
                v.iter()
                    .map(|&x| if x == 0.0 { 0.0 } else { x.signum() })
                    .collect()
            })
        })
        .collect();
    let foreign: Vec<Option<Vec<f32>>> = signed
        .iter()
        .zip(&detected)
        .map(|(v, d)| {
            v.clone()
                .filter(|_| d.as_ref().is_some_and(|d| d.code != "en"))
        })
        .collect();
    println!(
        "{} of {} requests quote text whose language is called",
        reward.iter().flatten().count(),
        items.len()
    );
    println!("fit     weight   R@1    R@10   R@50");
    for (name, fit) in [
        ("signed", &signed),
        ("plain", &plain),
        ("foreign", &foreign),
        ("reward", &reward),
    ] {
        for language_weight in [0.0f32, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3] {
            let scoring = Scoring {
                language_weight,
                ..Scoring::default()
            };
            let m = grid.recall(grid.lex, fit, &scoring);
            println!("{name:<7} {language_weight:>6.2} {}", recalls(&m));
        }
    }
    Ok(())
}

/// Nearest-neighbour scoring next to the centroid: per tool, the mean of the
/// `top` best cosines between the query and the tool's own training
/// instructions; the ranking uses `cos + gamma * (knn - cos)` plus BM25 at the
/// backend's share and `unknown` at its fixed score.
fn knn_grid(
    grid: &Grid,
    catalog: &Catalog,
    store: &mut EmbeddingStore,
    model: &MiniLm,
    train: &[Item],
    max_per_tool: usize,
) -> Result<()> {
    let (index, qs) = (grid.index, grid.qs);
    let dim = model.dim();
    let per = instructions_per_tool(catalog, train, max_per_tool);
    let flat: Vec<&str> = per.iter().flatten().copied().collect();
    let emb = store.get_or_embed(model, &flat, "training instructions")?;
    let mut owner = Vec::with_capacity(flat.len());
    for (p, list) in per.iter().enumerate() {
        owner.extend(std::iter::repeat_n(p, list.len()));
    }
    println!(
        "{} items; knn over {} training instructions",
        grid.items.len(),
        flat.len()
    );
    // Per query, once: each tool's cosines to its own instructions (best
    // first) and to its index row.
    let near: Vec<Vec<Vec<f32>>> = qs
        .chunks_exact(dim)
        .map(|q| {
            let mut best: Vec<Vec<f32>> = vec![Vec::new(); catalog.len()];
            for (r, &p) in owner.iter().enumerate() {
                best[p].push(dot(&emb[r * dim..(r + 1) * dim], q));
            }
            best.iter_mut()
                .for_each(|v| v.sort_by(|a, b| b.total_cmp(a)));
            best
        })
        .collect();
    let cos: Vec<Vec<f32>> = qs
        .chunks_exact(dim)
        .map(|q| {
            index
                .matrix
                .chunks_exact(dim)
                .map(|row| dot(row, q))
                .collect()
        })
        .collect();
    println!("  top  gamma    R@1    R@10   R@50");
    for top in [1usize, 3] {
        for gamma in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
            // A tool with no instructions keeps its centroid score.
            let m = grid.recall_with_extra(|q, i| {
                let (n, c) = (&near[q][i], cos[q][i]);
                let k = top.min(n.len());
                let knn = if k == 0 {
                    c
                } else {
                    n[..k].iter().sum::<f32>() / k as f32
                };
                gamma * (knn - c)
            });
            println!("{top:>5} {gamma:>6.2} {}", recalls(&m));
        }
    }
    Ok(())
}

/// Hubness correction (CSLS, Lample et al. 2018, tool side only): a tool row
/// that lies near many requests meant for other tools wins requests it should
/// not. Its density `r_t` is the mean of its `k` best cosines with the
/// training requests (through the shipped query side), either over all of
/// them (`all`, as in CSLS) or over other tools' requests only (`foreign`),
/// and the ranking uses `cos - beta * (r_t - mean r)` plus BM25 at the backend's share.
/// The reference requests are the grid's training part, never the dev items.
fn hub_grid(grid: &Grid, model: &MiniLm, train: &[Item]) -> Result<()> {
    let index = grid.index;
    let dim = model.dim();
    let tuned = PathBuf::from(SHIPPED_TUNED);
    let enc = MiniLm::load_tuned(&default_model_dir(), Some(&TunedLayers::load(&tuned)?))?;
    // Keyed by the tuned file's bytes, so a retrained file re-embeds.
    let bytes = std::fs::read(&tuned).with_context(|| format!("reading {}", tuned.display()))?;
    let mut store = EmbeddingStore::open(
        &default_cache_dir().join("embeddings-tune-hub.safetensors"),
        &format!("{MODEL_ID}+tuned-{:016x}", fnv1a(&bytes)),
        dim,
    );
    let texts: Vec<&str> = train.iter().map(|i| i.instruction.as_str()).collect();
    let refs = store.get_or_embed(&enc, &texts, "training requests, tuned")?;
    store.save()?;
    let row: HashMap<&str, usize> = index
        .ids
        .iter()
        .enumerate()
        .map(|(r, id)| (id.as_str(), r))
        .collect();
    let owner: Vec<Vec<usize>> = train
        .iter()
        .map(|i| {
            i.answers
                .iter()
                .filter_map(|a| row.get(a.as_str()).copied())
                .collect()
        })
        .collect();
    println!(
        "{} items; tool density over {} training requests",
        grid.items.len(),
        train.len()
    );
    const KS: [usize; 2] = [10, 50];
    // Per tool, its best cosines with the reference requests, best first:
    // over all of them, and over other tools' requests only.
    let best = |mut v: Vec<f32>| {
        let k = KS[KS.len() - 1];
        if v.len() > k {
            v.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            v.truncate(k);
        }
        v.sort_by(|a, b| b.total_cmp(a));
        v
    };
    let (near_all, near_foreign): (Vec<Vec<f32>>, Vec<Vec<f32>>) = index
        .matrix
        .chunks_exact(dim)
        .enumerate()
        .map(|(t, tool)| {
            let (mut all, mut foreign) = (Vec::new(), Vec::new());
            for (q, o) in refs.chunks_exact(dim).zip(&owner) {
                let c = dot(tool, q);
                all.push(c);
                if !o.contains(&t) {
                    foreign.push(c);
                }
            }
            (best(all), best(foreign))
        })
        .unzip();
    let uncentred = std::env::args().any(|a| a == "--uncentred");
    println!("   ref    k   beta    R@1    R@10   R@50");
    for (name, near) in [("all", &near_all), ("foreign", &near_foreign)] {
        for k in KS {
            let density: Vec<f32> = near
                .iter()
                .map(|v| {
                    let top = &v[..k.min(v.len())];
                    top.iter().sum::<f32>() / top.len().max(1) as f32
                })
                .collect();
            // Centred, so that the correction moves tools against each other
            // and not all of them against `unknown`'s fixed score
            // (`--uncentred` shows what happens otherwise).
            let mean = if uncentred {
                0.0
            } else {
                density.iter().sum::<f32>() / density.len() as f32
            };
            let density: Vec<f32> = density.iter().map(|r| r - mean).collect();
            for beta in [0.0f32, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0] {
                let m = grid.recall_with_extra(|_, i| -beta * density[i]);
                println!("{name:>7} {k:>4} {beta:>6.2} {}", recalls(&m));
            }
        }
    }
    Ok(())
}

/// What every grid ranks: the dev (or `--test`) items, their query vectors
/// and BM25 scores, over the index built from the training part.
struct Grid<'a> {
    index: &'a CardIndex,
    qs: &'a [f32],
    items: &'a [Item],
    lex: &'a [Vec<f32>],
    /// No item's quote weighed (one `None` per item).
    no_language: Vec<Option<Vec<f32>>>,
}

impl Grid<'_> {
    fn recall(
        &self,
        lex: &[Vec<f32>],
        language: &[Option<Vec<f32>>],
        scoring: &Scoring,
    ) -> mmtool_retrieval::eval::Metrics {
        recall_scored(
            self.index,
            self.qs,
            self.items,
            lex,
            language,
            scoring,
            &[1, 10, 50],
        )
    }

    /// Recall with `extra(query, row)` added to every tool's score beside
    /// BM25 at the backend's share: how the grids try a new signal.
    fn recall_with_extra(
        &self,
        extra: impl Fn(usize, usize) -> f32,
    ) -> mmtool_retrieval::eval::Metrics {
        let d = Scoring::default();
        let mixed: Vec<Vec<f32>> = self
            .lex
            .iter()
            .enumerate()
            .map(|(q, l)| {
                l.iter()
                    .enumerate()
                    .map(|(i, l)| d.lexical_weight * l + extra(q, i))
                    .collect()
            })
            .collect();
        let scoring = Scoring {
            lexical_weight: 1.0,
            ..d
        };
        self.recall(&mixed, &self.no_language, &scoring)
    }
}

/// R@1, R@10 and R@50 in percent, as the grids print them.
fn recalls(m: &mmtool_retrieval::eval::Metrics) -> String {
    let r = |k| m.at(k).unwrap_or(0.) * 100.;
    format!("{:>6.2} {:>6.2} {:>6.2}", r(1), r(10), r(50))
}
