//! Generation: prefix-trie constrained beam search over the catalog's target
//! token sequences (the answer is always a catalog id), and free greedy
//! generation as in the paper.

use std::collections::BTreeMap;

use anyhow::{Context as _, Result};
use candle_core::{Tensor, D};

use crate::llama::{KvCache, Mllm};
use crate::prompt::{Prompt, PromptEncoder};

/// Token-level prefix tree over candidate target sequences.
#[derive(Debug, Clone)]
pub struct Trie {
    nodes: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: BTreeMap<u32, usize>,
    /// Index of the candidate whose sequence ends here.
    terminal: Option<usize>,
}

impl Trie {
    /// Builds the trie; `seqs[i]` is candidate `i`'s full token sequence.
    /// Empty sequences and exact duplicates are rejected (the first would
    /// end decoding before it starts, the second makes candidates
    /// indistinguishable).
    pub fn new(seqs: &[Vec<u32>]) -> Result<Self> {
        let mut nodes = vec![Node::default()];
        for (i, seq) in seqs.iter().enumerate() {
            if seq.is_empty() {
                anyhow::bail!("candidate {i} has an empty token sequence");
            }
            let mut at = 0;
            for &tok in seq {
                at = match nodes[at].children.get(&tok) {
                    Some(&n) => n,
                    None => {
                        nodes.push(Node::default());
                        let n = nodes.len() - 1;
                        nodes[at].children.insert(tok, n);
                        n
                    }
                };
            }
            if let Some(prev) = nodes[at].terminal {
                anyhow::bail!("candidates {prev} and {i} have the same token sequence");
            }
            nodes[at].terminal = Some(i);
        }
        Ok(Trie { nodes })
    }

    pub const ROOT: usize = 0;

    pub fn children(&self, node: usize) -> impl Iterator<Item = (u32, usize)> + '_ {
        self.nodes[node].children.iter().map(|(&t, &n)| (t, n))
    }

    pub fn terminal(&self, node: usize) -> Option<usize> {
        self.nodes[node].terminal
    }
}

/// Runs the prompt through the model: last-position log-probabilities and the cache.
pub fn prefill(model: &Mllm, prompt: &Prompt, media: Option<&Tensor>) -> Result<(Tensor, KvCache)> {
    let slot = match (prompt.media_slot, media) {
        (Some(s), Some(m)) => Some((s, m)),
        (None, None) => None,
        (Some(_), None) => {
            anyhow::bail!("the prompt has a media slot but no media embedding was given")
        }
        (None, Some(_)) => {
            anyhow::bail!("a media embedding was given for a prompt without a media slot")
        }
    };
    let h = model.embed_with_media(&prompt.ids, slot)?;
    let mut cache = KvCache::new(model.n_layers());
    let h = model.forward_layers(&h, 0..model.n_layers(), 0, Some(&mut cache), false)?;
    let t = h.dim(1)?;
    let last = h.narrow(1, t - 1, 1)?.squeeze(1)?;
    let lp = candle_nn::ops::log_softmax(&model.logits(&last, false)?, D::Minus1)?;
    Ok((lp, cache))
}

/// Beam search restricted to the trie. Returns up to `width` finished
/// candidates as `(candidate index, total log-probability)`, best first.
/// Every result is a complete candidate sequence, so the answer can never
/// leave the candidate set.
pub fn beam_search(
    model: &Mllm,
    trie: &Trie,
    first_logp: &Tensor,
    cache: &KvCache,
    width: usize,
) -> Result<Vec<(usize, f32)>> {
    let width = width.max(1);
    // Active beams: (trie node, log-prob); row i of `logp` belongs to beam i.
    let mut beams: Vec<(usize, f32)> = vec![(Trie::ROOT, 0.)];
    let mut logp: Vec<Vec<f32>> = first_logp.to_vec2::<f32>()?;
    let mut cache = cache.clone();
    let mut finished: Vec<(usize, f32)> = Vec::new();
    loop {
        // A lone beam on a chain of single-child nodes (the shared
        // `{'api_name': ` prefix of every id, or the rest of an id once it is
        // the only live one) has nothing to choose: feed the whole chain in
        // one forward pass instead of one pass per token. Same scores.
        if beams.len() == 1 {
            let chain = single_chain(trie, beams[0].0);
            if chain.len() >= 2 {
                let toks: Vec<u32> = chain.iter().map(|c| c.0).collect();
                let mut score = beams[0].1 + logp[0][toks[0] as usize];
                let pos = cache.len();
                let ids = Tensor::new(toks.as_slice(), model.device())?.unsqueeze(0)?;
                let h = model.embed_tokens(&ids)?;
                let h =
                    model.forward_layers(&h, 0..model.n_layers(), pos, Some(&mut cache), false)?;
                let lp =
                    candle_nn::ops::log_softmax(&model.logits(&h.squeeze(0)?, false)?, D::Minus1)?
                        .to_vec2::<f32>()?;
                for (i, &t) in toks.iter().enumerate().skip(1) {
                    score += lp[i - 1][t as usize];
                }
                beams = vec![(chain[chain.len() - 1].1, score)];
                logp = vec![lp[toks.len() - 1].clone()];
                continue;
            }
        }
        let mut exp: Vec<(usize, u32, usize, f32)> = Vec::new();
        for (b, &(node, score)) in beams.iter().enumerate() {
            for (tok, child) in trie.children(node) {
                exp.push((b, tok, child, score + logp[b][tok as usize]));
            }
        }
        exp.sort_by(|a, b| b.3.total_cmp(&a.3));
        exp.truncate(width);
        let mut next: Vec<(usize, u32, usize, f32)> = Vec::new();
        for e in exp {
            if let Some(c) = trie.terminal(e.2) {
                finished.push((c, e.3));
            }
            if trie.children(e.2).next().is_some() {
                next.push(e);
            }
        }
        finished.sort_by(|a, b| b.1.total_cmp(&a.1));
        // Scores only fall as sequences grow: once `width` finished
        // candidates beat every active beam, nothing can overtake them.
        if next.is_empty()
            || (finished.len() >= width && next.iter().all(|e| e.3 <= finished[width - 1].1))
        {
            break;
        }
        let parents: Vec<u32> = next.iter().map(|e| e.0 as u32).collect();
        let toks: Vec<u32> = next.iter().map(|e| e.1).collect();
        cache = cache.select_rows(&parents)?;
        let pos = cache.len();
        let ids = Tensor::new(toks.as_slice(), model.device())?.unsqueeze(1)?;
        let h = model.embed_tokens(&ids)?;
        let h = model.forward_layers(&h, 0..model.n_layers(), pos, Some(&mut cache), false)?;
        let lp = candle_nn::ops::log_softmax(&model.logits(&h.squeeze(1)?, false)?, D::Minus1)?;
        logp = lp.to_vec2::<f32>()?;
        beams = next.iter().map(|e| (e.2, e.3)).collect();
    }
    finished.truncate(width);
    Ok(finished)
}

/// Exact log-probability of every candidate in `trie` after the cached
/// prompt, best first, from one forward pass over the whole trie with tree
/// attention ([`Mllm::forward_tree`]) instead of one pass per decoding step.
/// For a shortlist of a few ids this is several times faster than
/// [`beam_search`] and gives the same scores as a beam that never prunes.
pub fn score_trie(
    model: &Mllm,
    trie: &Trie,
    first_logp: &Tensor,
    cache: &KvCache,
) -> Result<Vec<(usize, f32)>> {
    let n = trie.nodes.len();
    // Nodes are created after their parents, so node order is a valid tree order.
    let mut parent = vec![Trie::ROOT; n];
    let mut token = vec![0u32; n];
    for (p, node) in trie.nodes.iter().enumerate() {
        for (&t, &c) in &node.children {
            parent[c] = p;
            token[c] = t;
        }
    }
    let first = first_logp.flatten_all()?.to_vec1::<f32>()?;
    // Log-probabilities after each node that has children (row per node).
    let mut after: Vec<Option<usize>> = vec![None; n];
    let internal: Vec<usize> = (1..n)
        .filter(|&c| !trie.nodes[c].children.is_empty())
        .collect();
    let rows: Vec<Vec<f32>> = if internal.is_empty() {
        Vec::new()
    } else {
        let tokens: Vec<u32> = token[1..].to_vec();
        let parents: Vec<Option<usize>> = parent[1..]
            .iter()
            .map(|&p| (p != Trie::ROOT).then(|| p - 1))
            .collect();
        let h = model.forward_tree(cache, &tokens, &parents)?.squeeze(0)?;
        let sel: Vec<u32> = internal.iter().map(|&c| (c - 1) as u32).collect();
        let sel = Tensor::new(sel.as_slice(), model.device())?;
        let logits = model.logits(&h.index_select(&sel, 0)?, false)?;
        for (row, &c) in internal.iter().enumerate() {
            after[c] = Some(row);
        }
        candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?
    };
    let mut score = vec![0f32; n];
    let mut out = Vec::new();
    for c in 1..n {
        let p = parent[c];
        let lp = match after[p] {
            Some(row) => rows[row][token[c] as usize],
            None => first[token[c] as usize],
        };
        score[c] = score[p] + lp;
        if let Some(cand) = trie.nodes[c].terminal {
            out.push((cand, score[c]));
        }
    }
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(out)
}

/// The tokens from `node` down a chain of nodes that each have exactly one
/// child, stopping before a node where a candidate ends or the trie branches
/// (both need the general step), as (token, node reached).
fn single_chain(trie: &Trie, mut node: usize) -> Vec<(u32, usize)> {
    let mut chain = Vec::new();
    loop {
        let mut ch = trie.children(node);
        match (ch.next(), ch.next()) {
            (Some((t, c)), None) if trie.terminal(c).is_none() => {
                chain.push((t, c));
                node = c;
            }
            _ => return chain,
        }
    }
}

/// Free greedy generation until the `\n###` stop, an end-of-text token or
/// `max_new` tokens. Returns the generated text and its log-probability.
pub fn greedy_free(
    model: &Mllm,
    enc: &PromptEncoder,
    first_logp: &Tensor,
    cache: &KvCache,
    max_new: usize,
) -> Result<(String, f32)> {
    let stops: Vec<u32> = ["<|endoftext|>", "<|im_end|>", "</s>"]
        .iter()
        .filter_map(|t| enc.tokenizer().token_to_id(t))
        .collect();
    let mut cache = cache.clone();
    let mut lp = first_logp.squeeze(0)?;
    let mut out: Vec<u32> = Vec::new();
    let mut total = 0f32;
    for _ in 0..max_new {
        let tok = lp.argmax(D::Minus1)?.to_scalar::<u32>()?;
        total += lp.get(tok as usize)?.to_scalar::<f32>()?;
        if stops.contains(&tok) {
            break;
        }
        out.push(tok);
        let text = enc.decode(&out)?;
        if let Some(end) = text.find("\n###") {
            return Ok((text[..end].to_string(), total));
        }
        let pos = cache.len();
        let ids = Tensor::new(&[[tok]], model.device())?;
        let h = model.embed_tokens(&ids)?;
        let h = model.forward_layers(&h, 0..model.n_layers(), pos, Some(&mut cache), false)?;
        lp = candle_nn::ops::log_softmax(&model.logits(&h.squeeze(1)?, false)?, D::Minus1)?
            .squeeze(0)
            .context("logits")?;
    }
    Ok((enc.decode(&out)?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_rejects_duplicates_and_empties() {
        assert!(Trie::new(&[vec![1, 2], vec![1, 2]]).is_err());
        assert!(Trie::new(&[vec![]]).is_err());
        let t = Trie::new(&[vec![1, 2], vec![1, 3, 4]]).unwrap();
        let kids: Vec<u32> = t.children(Trie::ROOT).map(|c| c.0).collect();
        assert_eq!(kids, vec![1]);
        let n1 = t.children(Trie::ROOT).next().unwrap().1;
        assert_eq!(t.children(n1).map(|c| c.0).collect::<Vec<_>>(), vec![2, 3]);
    }
}
