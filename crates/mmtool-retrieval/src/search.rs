//! Exact nearest-neighbour search: one pass of dot products over a
//! row-major matrix of unit vectors, then a partial sort for the top `n`.
//! Measured in docs/retrieval.md against an approximate index; at catalog
//! sizes the exact scan is well under the latency target.

/// Dot product, written so that the compiler vectorises it (8 independent
/// accumulators break the add dependency chain). Not `#[inline]` and not
/// generic on purpose: its machine code is then always this crate's
/// optimised build, never a copy compiled at a caller's debug level (that
/// made the scan 100x slower when called from an unoptimised crate).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        let x: &[f32; 8] = x.try_into().expect("chunks of 8");
        let y: &[f32; 8] = y.try_into().expect("chunks of 8");
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The `n` best rows for `query` as (row, score), best first; `bias(row)`
/// is added to each cosine (e.g. a modality penalty). Ties go to the lower row.
/// `bias` is a trait object so that this function is never instantiated in
/// (and compiled at the optimisation level of) a calling crate.
pub fn top_n(
    matrix: &[f32],
    dim: usize,
    query: &[f32],
    n: usize,
    bias: &dyn Fn(usize) -> f32,
) -> Vec<(usize, f32)> {
    assert_eq!(query.len(), dim, "query dimension");
    let mut scored: Vec<(usize, f32)> = matrix
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, row)| (i, dot(row, query) + bias(i)))
        .collect();
    let cmp = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    let n = n.min(scored.len());
    if n == 0 {
        return Vec::new();
    }
    if n < scored.len() {
        scored.select_nth_unstable_by(n - 1, cmp);
        scored.truncate(n);
    }
    scored.sort_by(cmp);
    scored
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        for len in [1, 7, 8, 9, 384] {
            let a: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..len).map(|i| (i as f32 * 0.11).cos()).collect();
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < 1e-4);
        }
    }

    #[test]
    fn top_n_orders_applies_bias_and_breaks_ties_by_row() {
        // rows: [1,0], [0,1], [0.6,0.8], [1,0]
        let m = [1.0, 0.0, 0.0, 1.0, 0.6, 0.8, 1.0, 0.0];
        let q = [1.0, 0.0];
        let r = top_n(&m, 2, &q, 3, &|_| 0.0);
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), vec![0, 3, 2]);
        let r = top_n(&m, 2, &q, 2, &|i| if i == 0 { -1.0 } else { 0.0 });
        assert_eq!(r.iter().map(|x| x.0).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(top_n(&m, 2, &q, 100, &|_| 0.0).len(), 4);
        assert!(top_n(&m, 2, &q, 0, &|_| 0.0).is_empty());
    }
}
