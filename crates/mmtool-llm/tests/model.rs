//! Model behaviour on tiny random configs.

mod common;

use candle_core::{Device, Tensor, D};
use common::*;
use mmtool_llm::checkpoint;
use mmtool_llm::decode::{beam_search, prefill, score_trie, Trie};
use mmtool_llm::llama::{KvCache, LoraConfig};
use mmtool_llm::train::{batch_input, batch_loss, epoch_batches, AdamW, Example};
use mmtool_llm::{BaseModel, Mllm, Prompt};

fn ids(v: &[u32]) -> Tensor {
    Tensor::new(v, &Device::Cpu).unwrap().unsqueeze(0).unwrap()
}

#[test]
fn lora_is_a_no_op_at_init() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 1);
    let plain = model(
        &cfg,
        &b,
        LoraConfig {
            targets: vec![],
            ..lora(4, 0.)
        },
        8,
    );
    let with = model(&cfg, &b, lora(4, 0.), 8);
    with.reset_trainable(3).unwrap();
    let x = ids(&[5, 9, 200, 17, 3]);
    let a = plain
        .forward_all(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let c = with
        .forward_all(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(
        a, c,
        "a fresh adapter (B = 0) must leave logits exactly unchanged"
    );
}

#[test]
fn training_and_inference_paths_agree() {
    // The training path uses slow differentiable ops; it must compute the same function.
    let cfg = tiny_cfg();
    let b = base(&cfg, 2);
    let m = model(&cfg, &b, lora(4, 0.), 8);
    let x = m.embed_tokens(&ids(&[1, 2, 3, 4, 5, 6])).unwrap();
    let fast = m
        .forward_layers(&x, 0..m.n_layers(), 0, None, false)
        .unwrap();
    let slow = m
        .forward_layers(&x, 0..m.n_layers(), 0, None, true)
        .unwrap();
    assert!(max_abs_diff(&fast, &slow) < 1e-4);
}

/// Rows of a HF q/k weight permuted into llama.cpp's interleaved-rope layout.
fn to_interleaved(w: &Tensor, n_heads: usize) -> Tensor {
    let (out, inp) = w.dims2().unwrap();
    let hd = out / n_heads;
    w.reshape((n_heads, 2, hd / 2, inp))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((out, inp))
        .unwrap()
}

#[test]
fn interleaved_rope_layout_matches_hf_layout() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 3);
    let mut g = b.clone();
    for l in 0..cfg.num_hidden_layers {
        for (p, h) in [
            ("q_proj", cfg.num_attention_heads),
            ("k_proj", cfg.kv_heads()),
        ] {
            let k = format!("model.layers.{l}.self_attn.{p}.weight");
            g.insert(k.clone(), to_interleaved(&b[&k], h));
        }
    }
    let gcfg = mmtool_llm::Config {
        rope_interleaved: true,
        ..cfg.clone()
    };
    let hf = model(&cfg, &b, lora(2, 0.), 4);
    let gg = model(&gcfg, &g, lora(2, 0.), 4);
    let x = ids(&[7, 8, 9, 10, 11]);
    let d = max_abs_diff(&hf.forward_all(&x).unwrap(), &gg.forward_all(&x).unwrap());
    assert!(d < 1e-4, "logits differ by {d}");
    // And the differentiable interleaved rope agrees with the fast one.
    let e = gg.embed_tokens(&x).unwrap();
    let slow = gg.forward_layers(&e, 0..3, 0, None, true).unwrap();
    let fast = gg.forward_layers(&e, 0..3, 0, None, false).unwrap();
    assert!(max_abs_diff(&slow, &fast) < 1e-4);
}

#[test]
fn kv_cache_matches_full_forward() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 4);
    let m = model(&cfg, &b, lora(2, 0.), 4);
    let seq = [3u32, 1, 4, 1, 5, 9, 2, 6];
    let full = m.forward_all(&ids(&seq)).unwrap().squeeze(0).unwrap();
    let mut cache = KvCache::new(m.n_layers());
    let h = m.embed_tokens(&ids(&seq[..5])).unwrap();
    m.forward_layers(&h, 0..3, 0, Some(&mut cache), false)
        .unwrap();
    for (i, &t) in seq[5..].iter().enumerate() {
        let h = m.embed_tokens(&ids(&[t])).unwrap();
        let h = m
            .forward_layers(&h, 0..3, 5 + i, Some(&mut cache), false)
            .unwrap();
        let l = m
            .logits(&h, false)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .squeeze(0)
            .unwrap();
        assert!(max_abs_diff(&l, &full.get(5 + i).unwrap()) < 1e-4);
    }
    assert_eq!(cache.len(), seq.len());
}

#[test]
fn gradients_reach_only_lora_and_projection() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 5);
    let m = model(&cfg, &b, lora(4, 0.1), 6);
    m.reset_trainable(1).unwrap();
    // Make B non-zero so that A gets a gradient too.
    for (name, var) in m.varmap().data().lock().unwrap().iter() {
        if name.contains("lora_B") {
            var.set(&Tensor::randn(0f32, 0.1, var.shape(), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let media = Tensor::randn(0f32, 1., 6, &Device::Cpu).unwrap();
    let seq = [10u32, 11, 0, 12, 13, 14, 15];
    let h = m.embed_with_media(&seq, Some((2, &media))).unwrap();
    let ex = Example {
        ids: seq.to_vec(),
        prompt_len: 5,
        media: None,
    };
    let (loss, _, n) = batch_loss(&m, &h, &[&ex], 0).unwrap();
    assert_eq!(n, 2);
    let grads = loss.backward().unwrap();
    for (name, var) in m.varmap().data().lock().unwrap().iter() {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        let s = g
            .abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(s > 0., "zero gradient for {name}");
    }
    for (name, t) in &b {
        assert!(
            grads.get(t).is_none(),
            "frozen base tensor {name} got a gradient"
        );
    }
}

#[test]
fn media_token_changes_the_output() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 6);
    let m = model(&cfg, &b, lora(2, 0.), 5);
    m.reset_trainable(2).unwrap();
    let p = Prompt {
        ids: vec![20, 21, 0, 22, 23],
        media_slot: Some(2),
    };
    let m1 = Tensor::randn(0f32, 1., 5, &Device::Cpu).unwrap();
    let m2 = Tensor::randn(0f32, 1., 5, &Device::Cpu).unwrap();
    let (a, _) = prefill(&m, &p, Some(&m1)).unwrap();
    let (c, _) = prefill(&m, &p, Some(&m2)).unwrap();
    assert!(max_abs_diff(&a, &c) > 1e-6);
    assert!(
        prefill(&m, &p, None).is_err(),
        "a media slot without an embedding is an error"
    );
}

#[test]
fn checkpoint_round_trip() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 7);
    let lc = LoraConfig {
        layers: vec![1, 2],
        ..lora(4, 0.)
    };
    let m = model(&cfg, &b, lc.clone(), 8);
    for (_, var) in m.varmap().data().lock().unwrap().iter() {
        var.set(&Tensor::randn(0f32, 0.2, var.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save_adapter(&m, dir.path(), "tiny", serde_json::json!({"seed": 1})).unwrap();
    let rec = checkpoint::read_record(dir.path()).unwrap();
    assert_eq!(rec.lora, lc);
    assert_eq!(rec.media_dim, 8);
    let m2 = model(&cfg, &b, rec.lora.clone(), rec.media_dim);
    checkpoint::load_adapter(&m2, dir.path()).unwrap();
    let x = ids(&[1, 2, 3, 4]);
    let a = m
        .forward_all(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let c = m2
        .forward_all(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert_eq!(a, c);
    // An adapter made for other layers is refused with the file named.
    let m3 = model(&cfg, &b, lora(4, 0.), 8);
    let err = checkpoint::load_adapter(&m3, dir.path()).unwrap_err();
    assert!(
        format!("{err:#}").contains("adapter.safetensors"),
        "{err:#}"
    );
}

/// Teacher-forced log-likelihood of `target` after `prompt`, from one full forward pass.
fn forced_logp(m: &Mllm, prompt: &[u32], target: &[u32]) -> f32 {
    let mut all = prompt.to_vec();
    all.extend(target);
    let logits = m.forward_all(&ids(&all)).unwrap().squeeze(0).unwrap();
    let lps = candle_nn::ops::log_softmax(&logits, D::Minus1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    target
        .iter()
        .enumerate()
        .map(|(i, &t)| lps[prompt.len() + i - 1][t as usize])
        .sum()
}

/// Candidate targets: 4 "ids" of different lengths sharing prefixes, ending in a stop token.
fn candidates() -> Vec<Vec<u32>> {
    vec![
        vec![40, 41, 50, 99],
        vec![40, 41, 51, 52, 99],
        vec![40, 42, 99],
        vec![40, 41, 50, 53, 99],
    ]
}

#[test]
fn constrained_decoding_never_leaves_the_candidates_and_scores_match() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 8);
    let m = model(&cfg, &b, lora(2, 0.), 4);
    let cands = candidates();
    let trie = Trie::new(&cands).unwrap();
    for seed in 0..8u32 {
        let prompt: Vec<u32> = (0..6).map(|i| (seed * 31 + i * 7) % 256).collect();
        let p = Prompt {
            ids: prompt.clone(),
            media_slot: None,
        };
        let (lp, cache) = prefill(&m, &p, None).unwrap();
        let res = beam_search(&m, &trie, &lp, &cache, 4).unwrap();
        assert_eq!(res.len(), 4, "all candidates are reachable with width 4");
        let mut seen: Vec<usize> = res.iter().map(|r| r.0).collect();
        seen.sort();
        assert_eq!(seen, vec![0, 1, 2, 3]);
        assert!(res.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        // Each score is the teacher-forced log-likelihood of its sequence.
        for (c, score) in &res {
            let want = forced_logp(&m, &prompt, &cands[*c]);
            assert!(
                (want - score).abs() < 1e-3,
                "candidate {c}: beam {score} vs forced {want}"
            );
        }
        let top1 = beam_search(&m, &trie, &lp, &cache, 1).unwrap();
        assert_eq!(top1.len(), 1);
        assert!(top1[0].0 < cands.len());
    }
}

/// Long single-child chains (a shared prefix, a lone tail) are fed in one pass; the scores must
/// still be the teacher-forced log-likelihoods, for every beam width.
#[test]
fn chain_compressed_beam_scores_equal_teacher_forcing() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 8);
    let m = model(&cfg, &b, lora(2, 0.), 4);
    let cands: Vec<Vec<u32>> = vec![
        vec![7, 8, 9, 10, 99],
        vec![7, 8, 9, 11, 12, 13, 14, 99],
        vec![7, 8, 9, 11, 15, 99],
    ];
    let trie = Trie::new(&cands).unwrap();
    let prompt: Vec<u32> = vec![3, 1, 4, 1, 5, 9];
    let p = Prompt {
        ids: prompt.clone(),
        media_slot: None,
    };
    let (lp, cache) = prefill(&m, &p, None).unwrap();
    for width in 1..=3 {
        let res = beam_search(&m, &trie, &lp, &cache, width).unwrap();
        assert_eq!(res.len(), width);
        for (c, score) in &res {
            let want = forced_logp(&m, &prompt, &cands[*c]);
            assert!(
                (want - score).abs() < 1e-3,
                "width {width}, candidate {c}: beam {score} vs forced {want}"
            );
        }
    }
}

/// Scoring the whole trie in one tree-attention pass gives every candidate its teacher-forced
/// log-likelihood, the same ranking as a beam that never prunes, and leaves the cache as it was.
#[test]
fn tree_scores_equal_teacher_forcing_and_the_unpruned_beam() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 8);
    let m = model(&cfg, &b, lora(2, 0.), 4);
    for cands in [
        candidates(),
        vec![
            vec![7, 8, 9, 10, 99],
            vec![7, 8, 9, 11, 12, 13, 14, 99],
            vec![7, 8, 9, 11, 15, 99],
        ],
        vec![vec![5], vec![6]],
        vec![vec![5, 6], vec![5, 6, 7]],
    ] {
        let trie = Trie::new(&cands).unwrap();
        let prompt: Vec<u32> = vec![3, 1, 4, 1, 5, 9];
        let p = Prompt {
            ids: prompt.clone(),
            media_slot: None,
        };
        let (lp, cache) = prefill(&m, &p, None).unwrap();
        let before = cache.len();
        let tree = score_trie(&m, &trie, &lp, &cache).unwrap();
        assert_eq!(cache.len(), before);
        assert_eq!(tree.len(), cands.len());
        assert!(tree.windows(2).all(|w| w[0].1 >= w[1].1), "best first");
        for (c, score) in &tree {
            let want = forced_logp(&m, &prompt, &cands[*c]);
            assert!(
                (want - score).abs() < 1e-3,
                "candidate {c}: tree {score} vs forced {want}"
            );
        }
        let beam = beam_search(&m, &trie, &lp, &cache, cands.len()).unwrap();
        let ids = |v: &[(usize, f32)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
        assert_eq!(ids(&tree), ids(&beam));
    }
}

#[test]
fn tiny_model_overfits_sixteen_examples() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 9);
    let m = model(&cfg, &b, lora(8, 0.), 4);
    m.reset_trainable(4).unwrap();
    let cands = candidates();
    let trie = Trie::new(&cands).unwrap();
    let data: Vec<(Vec<u32>, usize)> = (0..16u32)
        .map(|i| {
            (
                (0..5).map(|j| (i * 13 + j * 29 + 1) % 256).collect(),
                (i % 4) as usize,
            )
        })
        .collect();
    let examples: Vec<Example> = data
        .iter()
        .map(|(p, c)| {
            let mut ids = p.clone();
            ids.extend(&cands[*c]);
            Example {
                ids,
                prompt_len: p.len(),
                media: None,
            }
        })
        .collect();
    let mut opt = AdamW::new(0.);
    for _ in 0..150 {
        let mut grads = std::collections::HashMap::new();
        for ex in &examples {
            let h = m.embed_tokens(&ids(&ex.ids)).unwrap();
            let (loss, _, _) = batch_loss(&m, &h, &[ex], 0).unwrap();
            let g = (loss / 16.).unwrap().backward().unwrap();
            add_grads(&m, &mut grads, &g);
        }
        opt.step(&m, &grads, 1e-2).unwrap();
    }
    let mut ok = 0;
    for (p, c) in &data {
        let pr = Prompt {
            ids: p.clone(),
            media_slot: None,
        };
        let (lp, cache) = prefill(&m, &pr, None).unwrap();
        if beam_search(&m, &trie, &lp, &cache, 1).unwrap()[0].0 == *c {
            ok += 1;
        }
    }
    assert_eq!(ok, 16, "greedy accuracy after overfitting: {ok}/16");
}

#[test]
fn loads_a_huggingface_directory() {
    let cfg = mmtool_llm::Config {
        tie_word_embeddings: false,
        ..tiny_cfg()
    };
    let b = base(&cfg, 10);
    let dir = tempfile::tempdir().unwrap();
    write_hf_dir(dir.path(), &cfg, &b);
    let loaded = BaseModel::load(dir.path(), &Device::Cpu).unwrap();
    assert_eq!(loaded.config, cfg);
    let m1 = model(&cfg, &b, lora(2, 0.), 4);
    let m2 = mmtool_llm::Mllm::new(
        loaded.config.clone(),
        loaded.var_builder(&Device::Cpu),
        lora(2, 0.),
        4,
    )
    .unwrap();
    let x = ids(&[1, 2, 3]);
    assert_eq!(
        m1.forward_all(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
        m2.forward_all(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    );
    let enc = mmtool_llm::PromptEncoder::new(loaded.tokenizer);
    let t = enc.encode("### Human: hi").unwrap();
    assert_eq!(enc.decode(&t).unwrap(), "### Human: hi");
    // A directory without weights is a clear error.
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let err = BaseModel::load(dir.path(), &Device::Cpu).err().unwrap();
    assert!(format!("{err:#}").contains("no *.safetensors"), "{err:#}");
}

/// The backend projects a query's encoder features into the media token when their width is the
/// projection's, and otherwise answers from the words and says why in its findings.
#[test]
fn backend_uses_the_media_token_only_when_the_projection_fits() {
    use mmtool_catalog::Catalog;
    use mmtool_llm::backend::MllmRecommender;
    use mmtool_llm::PromptEncoder;
    use mmtool_recommend::{Query, Recommender};
    let card = |id: &str| card(id, "audio");
    let catalog =
        std::sync::Arc::new(Catalog::from_cards(vec![card("o/a"), card("o/bb")]).unwrap());
    let cfg = tiny_cfg();
    let b = base(&cfg, 6);
    let m = model(&cfg, &b, lora(2, 0.), 5);
    m.reset_trainable(2).unwrap();
    let r = MllmRecommender::from_parts(m, PromptEncoder::new(byte_tokenizer()), catalog, false)
        .unwrap();
    let mut q = Query::text("what is said");
    q.modality = mmtool_data::Modality::Audio;
    assert!(r.recommend(&q, 2).unwrap().findings.is_none());
    let note = |rec: &mmtool_recommend::Recommendation| {
        rec.findings.as_ref().unwrap()["media_token"]
            .as_str()
            .unwrap()
            .to_string()
    };
    q.media_features = Some(vec![0.5; 5]);
    let a = r.recommend(&q, 2).unwrap();
    assert!(note(&a).starts_with("used"), "{}", note(&a));
    let ids = vec!["o/a".to_string(), "o/bb".to_string()];
    let logp = |q: &Query| {
        let (t, _) = r.media_token(q).unwrap();
        r.score_ids(q, Some(&t.unwrap()), &ids).unwrap()[0].1
    };
    let before = logp(&q);
    q.media_features = Some(vec![-3.0; 5]);
    assert!(
        (before - logp(&q)).abs() > 1e-6,
        "the features reach the model"
    );
    q.media_features = Some(vec![0.5; 3]);
    let d = r.recommend(&q, 2).unwrap();
    assert!(note(&d).starts_with("not used"), "{}", note(&d));
    assert!(note(&d).contains("reads 5 values"), "{}", note(&d));
    assert_eq!(d.ranked.len(), 2);
}

#[test]
fn init_from_loads_what_fits_and_names_what_starts_fresh() {
    let cfg = tiny_cfg();
    let b = base(&cfg, 8);
    let m = model(&cfg, &b, lora(4, 0.), 6);
    for (_, var) in m.varmap().data().lock().unwrap().iter() {
        var.set(&Tensor::randn(0f32, 0.2, var.shape(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    checkpoint::save_adapter(&m, dir.path(), "tiny", serde_json::json!({})).unwrap();
    let file = dir.path().join(checkpoint::TENSORS_FILE);
    // Same LoRA set-up, a wider projection: LoRA loads, the projection starts fresh.
    let wide = model(&cfg, &b, lora(4, 0.), 10);
    wide.reset_trainable(1).unwrap();
    let skipped = checkpoint::load_matching_into(&wide, &file).unwrap();
    assert_eq!(skipped, vec!["media_proj.weight".to_string()]);
    let old = m.varmap().data().lock().unwrap();
    let new = wide.varmap().data().lock().unwrap();
    for (name, var) in new.iter() {
        if name.contains("lora") || name == "media_proj.bias" {
            assert_eq!(
                max_abs_diff(var.as_tensor(), old[name].as_tensor()),
                0.0,
                "{name}"
            );
        }
    }
    drop((old, new));
    // A file sharing no tensor with the model (not an adapter of it) is refused.
    let other = dir.path().join("other.safetensors");
    let t = std::collections::HashMap::from([(
        "encoder.weight".to_string(),
        Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap(),
    )]);
    candle_core::safetensors::save(&t, &other).unwrap();
    let err = checkpoint::load_matching_into(&wide, &other).unwrap_err();
    assert!(format!("{err:#}").contains("shares no tensor"), "{err:#}");
}

#[test]
fn the_projection_learns_to_answer_from_the_media_token() {
    // One instruction, four answers told apart only by the attached media:
    // words alone cannot beat 1 in 4, a trained media token must get all 4.
    let cfg = tiny_cfg();
    let b = base(&cfg, 21);
    let m = model(&cfg, &b, lora(8, 0.), 6);
    m.reset_trainable(5).unwrap();
    let cands = candidates();
    let trie = Trie::new(&cands).unwrap();
    let prompt = [10u32, 11, 0, 12, 13];
    let media: Vec<Vec<f32>> = (0..4)
        .map(|k| (0..6).map(|j| if j == k { 1.0 } else { 0.0 }).collect())
        .collect();
    let examples: Vec<Example> = (0..4)
        .map(|k| {
            let mut ids = prompt.to_vec();
            ids.extend(&cands[k]);
            Example {
                ids,
                prompt_len: prompt.len(),
                media: Some((2, media[k].clone())),
            }
        })
        .collect();
    // Media examples never share a batch with text-only ones of the same length.
    let mut mixed = examples.clone();
    mixed.push(Example {
        media: None,
        ..examples[0].clone()
    });
    for batch in epoch_batches(&mixed, 8, 3, 0) {
        let kinds: std::collections::HashSet<bool> =
            batch.iter().map(|&i| mixed[i].media.is_some()).collect();
        assert_eq!(kinds.len(), 1, "batch {batch:?} mixes media and text-only");
    }
    let mut opt = AdamW::new(0.);
    for _ in 0..120 {
        let mut grads = std::collections::HashMap::new();
        for ex in &examples {
            // Media batches start at layer 0 whatever the cache holds.
            let (h, start) = batch_input(&m, &[ex], None, &[0], 3).unwrap();
            assert_eq!(start, 0);
            let (loss, _, _) = batch_loss(&m, &h, &[ex], start).unwrap();
            let g = (loss / 4.).unwrap().backward().unwrap();
            add_grads(&m, &mut grads, &g);
        }
        opt.step(&m, &grads, 1e-2).unwrap();
    }
    let pr = Prompt {
        ids: prompt.to_vec(),
        media_slot: Some(2),
    };
    for (k, f) in media.iter().enumerate() {
        let t = Tensor::from_slice(f, 6, &Device::Cpu).unwrap();
        let (lp, cache) = prefill(&m, &pr, Some(&t)).unwrap();
        assert_eq!(
            beam_search(&m, &trie, &lp, &cache, 1).unwrap()[0].0,
            k,
            "media {k} answered wrongly"
        );
    }
}

/// Calibrated shortlist scores are the request's log-likelihood minus the empty request's, for
/// each id, whatever order or subset the ids come in (the empty request's scores are memoised).
#[test]
fn calibrated_scores_subtract_the_empty_requests_likelihood() {
    use mmtool_catalog::Catalog;
    use mmtool_llm::backend::MllmRecommender;
    use mmtool_llm::PromptEncoder;
    use mmtool_recommend::{Query, Recommender};
    let card = |id: &str| card(id, "image");
    let ids: Vec<String> = ["o/a", "o/bb", "p/ccc", "unknown"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let catalog =
        std::sync::Arc::new(Catalog::from_cards(ids.iter().map(|i| card(i)).collect()).unwrap());
    let cfg = tiny_cfg();
    let b = base(&cfg, 12);
    let m = model(&cfg, &b, lora(2, 0.), 5);
    m.reset_trainable(2).unwrap();
    let raw = MllmRecommender::from_parts(m, PromptEncoder::new(byte_tokenizer()), catalog, false)
        .unwrap();
    let mut q = Query::text("make this sharper");
    q.modality = mmtool_data::Modality::Image;
    let mut empty = q.clone();
    empty.instruction = String::new();
    let as_map = |v: Vec<(String, f32)>| -> std::collections::HashMap<String, f32> {
        v.into_iter().collect()
    };
    let full = as_map(raw.score_ids(&q, None, &ids).unwrap());
    let prior = as_map(raw.score_ids(&empty, None, &ids).unwrap());
    let cal = raw.with_calibration(true);
    for subset in [&ids[..], &ids[1..3], &[ids[3].clone(), ids[0].clone()][..]] {
        let got = cal.score_ids(&q, None, subset).unwrap();
        assert_eq!(got.len(), subset.len());
        for w in got.windows(2) {
            assert!(w[0].1 >= w[1].1, "best first: {got:?}");
        }
        for (id, s) in &got {
            let want = full[id] - prior[id];
            assert!((s - want).abs() < 1e-4, "{id}: {s} vs {want}");
        }
    }
    // Through the Recommender interface: the same order, scores a softmax over the list.
    let rec = cal.recommend_with(&q, 4, None, Some(&ids)).unwrap();
    let best = cal.score_ids(&q, None, &ids).unwrap();
    assert_eq!(rec.ranked[0].id, best[0].0);
    let total: f32 = rec.ranked.iter().map(|s| s.score).sum();
    assert!((total - 1.0).abs() < 1e-4, "{total}");
    assert!(cal.recommend(&q, 2).is_ok());
}

/// A catalog card with only an id and an input modality that matter.
fn card(id: &str, modality: &str) -> mmtool_catalog::ToolCard {
    serde_json::from_value(serde_json::json!({
        "id": id, "task": "t", "domain": "d", "input_modality": modality,
        "output_modality": "text", "summary": "s", "api_call": "x"
    }))
    .unwrap()
}

/// Saved empty-request scores are reused only by the adapter weights they were computed with,
/// and give the same calibrated scores as computing them afresh.
#[test]
fn null_scores_round_trip_and_belong_to_their_adapter() {
    use mmtool_catalog::Catalog;
    use mmtool_llm::backend::MllmRecommender;
    use mmtool_llm::PromptEncoder;
    use mmtool_recommend::Query;
    let ids: Vec<String> = ["o/a", "o/bb", "unknown"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let catalog = std::sync::Arc::new(
        Catalog::from_cards(ids.iter().map(|i| card(i, "audio")).collect()).unwrap(),
    );
    let cfg = tiny_cfg();
    let b = base(&cfg, 14);
    let build = |sha: &str| {
        let m = model(&cfg, &b, lora(2, 0.), 5);
        m.reset_trainable(2).unwrap();
        MllmRecommender::from_parts(
            m,
            PromptEncoder::new(byte_tokenizer()),
            catalog.clone(),
            false,
        )
        .unwrap()
        .with_calibration(true)
        .with_adapter_sha256(sha.into())
    };
    let first = build("abc");
    first.precompute_null_scores().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let saved = first.save_null_scores(dir.path()).unwrap();
    assert!(saved.ends_with("null_scores.json"));
    let mut q = Query::text("what is said");
    q.modality = mmtool_data::Modality::Audio;
    let want = first.score_ids(&q, None, &ids).unwrap();
    let again = build("abc");
    assert_eq!(again.load_null_scores(dir.path()), 4 * ids.len());
    assert_eq!(again.score_ids(&q, None, &ids).unwrap(), want);
    assert_eq!(build("other weights").load_null_scores(dir.path()), 0);
    std::fs::write(&saved, "{not json").unwrap();
    assert_eq!(build("abc").load_null_scores(dir.path()), 0);
    // Without an adapter there is nothing to tie the scores to.
    let m = model(&cfg, &b, lora(2, 0.), 5);
    let bare = MllmRecommender::from_parts(
        m,
        PromptEncoder::new(byte_tokenizer()),
        catalog.clone(),
        false,
    )
    .unwrap();
    assert!(bare.save_null_scores(dir.path()).is_err());
}

/// Adds one backward pass's gradients of the trainable variables to `grads`.
fn add_grads(
    m: &Mllm,
    grads: &mut std::collections::HashMap<String, Tensor>,
    g: &candle_core::backprop::GradStore,
) {
    for (name, var) in m.varmap().data().lock().unwrap().iter() {
        if let Some(t) = g.get(var.as_tensor()) {
            let e = grads
                .entry(name.clone())
                .or_insert_with(|| t.zeros_like().unwrap());
            *e = (&*e + t).unwrap();
        }
    }
}
