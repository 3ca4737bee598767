//! The card index: one unit vector per catalog tool, built from the card's
//! text and (optionally) the centroid of the tool's training instructions,
//! cached in a file keyed by the catalog fingerprint, the training data and
//! the model id, so it is rebuilt only when one of them changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use mmtool_catalog::Catalog;
use mmtool_data::{Item, Modality};
use safetensors::Dtype;

use crate::minilm::{normalize, MiniLm, MODEL_DIR_NAME, MODEL_ID};
use crate::store::{f32_bytes, fnv1a, write_safetensors, EmbeddingStore, Loaded, Raw};

/// How card vectors are made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// Weight of the card-text embedding against the centroid of the tool's
    /// training instructions (1.0 = card text only).
    pub card_weight: f32,
    /// At most this many training instructions per tool feed its centroid
    /// (bounds the one-off embedding cost).
    pub max_per_tool: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        // card_weight tuned on the training dev split (docs/retrieval.md).
        IndexConfig {
            card_weight: 0.3,
            max_per_tool: 30,
        }
    }
}

/// The two ingredients of every card vector, kept apart so that the mix can
/// be tuned without re-embedding.
pub struct CardParts {
    pub dim: usize,
    /// Row-major, one unit row per catalog card.
    pub cards: Vec<f32>,
    /// Unit centroid of the tool's training instructions, if it has any.
    pub centroids: Vec<Option<Vec<f32>>>,
    /// Fingerprint of the instructions that went into the centroids.
    pub training_fingerprint: u64,
    /// Per tool: what its vector depends on besides the mix weight (model,
    /// card text, training instructions); see [`CardIndex::row_keys`].
    pub row_bases: Vec<u64>,
}

/// Per tool, a hash of what its vector depends on apart from the card
/// weight: the model, the card's search text and its training instructions.
pub fn row_bases(catalog: &Catalog, per: &[Vec<&str>]) -> Vec<u64> {
    catalog
        .cards()
        .iter()
        .zip(per)
        .map(|(c, list)| {
            let mut k = MODEL_ID.as_bytes().to_vec();
            k.push(0);
            k.extend_from_slice(c.search_text().as_bytes());
            for t in list {
                k.push(0);
                k.extend_from_slice(t.as_bytes());
            }
            fnv1a(&k)
        })
        .collect()
}

/// Fingerprint of the instructions that feed the centroids (`per` from
/// [`instructions_per_tool`]): cheap, nothing is embedded.
fn training_fingerprint(per: &[Vec<&str>]) -> u64 {
    let mut fp = Vec::new();
    for (p, list) in per.iter().enumerate() {
        if list.is_empty() {
            continue;
        }
        for t in list {
            fp.extend_from_slice(&fnv1a(t.as_bytes()).to_le_bytes());
        }
        fp.extend_from_slice(&(p as u64).to_le_bytes());
    }
    fnv1a(&fp)
}

/// A row key: the row base with the card weight that mixes the vector.
fn row_key(base: u64, card_weight: f32) -> u64 {
    let mut k = base.to_le_bytes().to_vec();
    k.extend_from_slice(&card_weight.to_le_bytes());
    fnv1a(&k)
}

/// Training instructions per catalog position, at most `max_per_tool` each,
/// in file order. Answers outside the catalog are skipped.
pub fn instructions_per_tool<'a>(
    catalog: &Catalog,
    training: &'a [Item],
    max_per_tool: usize,
) -> Vec<Vec<&'a str>> {
    let mut per: Vec<Vec<&str>> = vec![Vec::new(); catalog.len()];
    for it in training {
        for a in &it.answers {
            if let Some(p) = catalog.position(a) {
                if per[p].len() < max_per_tool {
                    per[p].push(&it.instruction);
                }
            }
        }
    }
    per
}

impl CardParts {
    /// Embeds card texts and training instructions (through the store, so
    /// each text is embedded once).
    pub fn build(
        model: &MiniLm,
        store: &mut EmbeddingStore,
        catalog: &Catalog,
        training: &[Item],
        max_per_tool: usize,
    ) -> Result<Self> {
        Self::build_rows(model, store, catalog, training, max_per_tool, &|_| true)
    }

    /// [`CardParts::build`] for the tools `need` selects; the others get a
    /// zero card vector and no centroid, and nothing of theirs is embedded
    /// (their vectors come from elsewhere, e.g. an earlier index).
    pub fn build_rows(
        model: &MiniLm,
        store: &mut EmbeddingStore,
        catalog: &Catalog,
        training: &[Item],
        max_per_tool: usize,
        need: &dyn Fn(usize) -> bool,
    ) -> Result<Self> {
        let dim = model.dim();
        let rows: Vec<usize> = (0..catalog.len()).filter(|&i| need(i)).collect();
        let texts: Vec<String> = rows
            .iter()
            .map(|&i| catalog.cards()[i].search_text())
            .collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let embedded = store.get_or_embed(model, &refs, "tool cards")?;
        let mut cards = vec![0f32; catalog.len() * dim];
        for (k, &i) in rows.iter().enumerate() {
            cards[i * dim..(i + 1) * dim].copy_from_slice(&embedded[k * dim..(k + 1) * dim]);
        }
        let per = instructions_per_tool(catalog, training, max_per_tool);
        let flat: Vec<&str> = rows.iter().flat_map(|&i| per[i].iter().copied()).collect();
        let emb = store.get_or_embed(model, &flat, "training instructions")?;
        store.save()?;
        let mut centroids = Vec::with_capacity(per.len());
        let mut row = 0;
        for (p, list) in per.iter().enumerate() {
            if list.is_empty() || !need(p) {
                centroids.push(None);
                continue;
            }
            let mut c = vec![0f32; dim];
            for _ in list {
                for (x, y) in c.iter_mut().zip(&emb[row * dim..(row + 1) * dim]) {
                    *x += y;
                }
                row += 1;
            }
            normalize(&mut c);
            centroids.push(Some(c));
        }
        Ok(CardParts {
            dim,
            cards,
            centroids,
            training_fingerprint: training_fingerprint(&per),
            row_bases: row_bases(catalog, &per),
        })
    }

    /// Card vectors: `normalize(w * card + (1 - w) * centroid)`, or the card
    /// alone where a tool has no training instructions.
    pub fn compose(&self, card_weight: f32) -> Vec<f32> {
        let d = self.dim;
        let mut out = self.cards.clone();
        for (i, c) in self.centroids.iter().enumerate() {
            if let Some(c) = c {
                let row = &mut out[i * d..(i + 1) * d];
                for (x, y) in row.iter_mut().zip(c) {
                    *x = card_weight * *x + (1.0 - card_weight) * y;
                }
                normalize(row);
            }
        }
        out
    }
}

/// Tool vectors ready to search, aligned with the catalog's cards.
#[derive(Debug, Clone, PartialEq)]
pub struct CardIndex {
    pub ids: Vec<String>,
    pub modalities: Vec<Modality>,
    pub dim: usize,
    /// Row-major, `ids.len() x dim`, unit rows.
    pub matrix: Vec<f32>,
    /// Per row, a hash of everything its vector was made from (model, card
    /// text, training instructions, card weight): rows whose key is unchanged
    /// are reused when the catalog changes instead of embedded again. Empty
    /// for index files written before keys existed.
    pub row_keys: Vec<u64>,
}

/// Directory of the retrieval caches: `$MMTOOL_CACHE/retrieval`.
pub fn default_cache_dir() -> PathBuf {
    crate::minilm::cache_root().join("retrieval")
}

/// Embedding store file for the MiniLM model inside `cache_dir`.
pub fn store_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(format!("embeddings-{MODEL_DIR_NAME}.safetensors"))
}

impl CardIndex {
    pub fn from_parts(catalog: &Catalog, parts: &CardParts, card_weight: f32) -> Self {
        CardIndex {
            ids: catalog.cards().iter().map(|c| c.id.clone()).collect(),
            modalities: catalog.cards().iter().map(|c| c.input_modality).collect(),
            dim: parts.dim,
            matrix: parts.compose(card_weight),
            row_keys: parts
                .row_bases
                .iter()
                .map(|&b| row_key(b, card_weight))
                .collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The index file for a catalog, training set and config.
    pub fn path_for(
        cache_dir: &Path,
        catalog: &Catalog,
        training_fp: u64,
        cfg: &IndexConfig,
    ) -> PathBuf {
        let mut key = Vec::new();
        key.extend_from_slice(MODEL_ID.as_bytes());
        key.extend_from_slice(&training_fp.to_le_bytes());
        key.extend_from_slice(&cfg.card_weight.to_le_bytes());
        key.extend_from_slice(&(cfg.max_per_tool as u64).to_le_bytes());
        cache_dir.join(format!(
            "index-{MODEL_DIR_NAME}-{:016x}-{:016x}.safetensors",
            catalog.fingerprint(),
            fnv1a(&key)
        ))
    }

    /// Loads the cached index for this catalog, training set and config, or
    /// builds and saves it. Returns the index and whether it was rebuilt.
    pub fn load_or_build(
        cache_dir: &Path,
        model: &MiniLm,
        catalog: &Catalog,
        training: &[Item],
        cfg: &IndexConfig,
    ) -> Result<(Self, bool)> {
        Self::load_shipped_or_build(cache_dir, None, model, catalog, training, cfg)
    }

    /// The cache file the index for this catalog, training set and config
    /// lives in. The fingerprint of the training instructions is cheap to
    /// compute without embedding anything.
    pub fn cached_path(
        cache_dir: &Path,
        catalog: &Catalog,
        training: &[Item],
        cfg: &IndexConfig,
    ) -> PathBuf {
        let per = instructions_per_tool(catalog, training, cfg.max_per_tool);
        Self::path_for(cache_dir, catalog, training_fingerprint(&per), cfg)
    }

    /// [`CardIndex::load_or_build`], but when the cache has no index yet, a
    /// prebuilt one of the same name in `shipped` (the repository's
    /// `adapters/retrieval/`) is copied in first: building embeds some 28,000
    /// training instructions, 9 minutes on this 2-core machine. The name
    /// encodes catalog, training data and config, and loading checks model,
    /// catalog and ids, so a prebuilt index that does not fit is never used.
    pub fn load_shipped_or_build(
        cache_dir: &Path,
        shipped: Option<&Path>,
        model: &MiniLm,
        catalog: &Catalog,
        training: &[Item],
        cfg: &IndexConfig,
    ) -> Result<(Self, bool)> {
        let per = instructions_per_tool(catalog, training, cfg.max_per_tool);
        let path = Self::path_for(cache_dir, catalog, training_fingerprint(&per), cfg);
        if let (false, Some(dir), Some(name)) = (path.exists(), shipped, path.file_name()) {
            let prebuilt = dir.join(name);
            if prebuilt.exists() {
                let copied = std::fs::read(&prebuilt)
                    .map_err(anyhow::Error::from)
                    .and_then(|b| Ok(mmtool_data::write_atomic(&path, &b)?));
                if let Err(e) = copied {
                    tracing::warn!("{}: not used: {e:#}", prebuilt.display());
                }
            }
        }
        let keys: Vec<u64> = row_bases(catalog, &per)
            .into_iter()
            .map(|b| row_key(b, cfg.card_weight))
            .collect();
        if path.exists() {
            match Self::load(&path, catalog) {
                Ok(mut ix) => {
                    if ix.row_keys != keys {
                        // A file from before row keys: its name vouches for
                        // what it was built from, so add them for later reuse.
                        ix.row_keys = keys;
                        if let Err(e) = ix.save(&path, catalog) {
                            tracing::warn!("{}: cannot add row keys: {e:#}", path.display());
                        }
                    }
                    return Ok((ix, false));
                }
                Err(e) => tracing::warn!("rebuilding the card index: {e:#}"),
            }
        }
        // A catalog edit changes a few tools: reuse every other tool's vector
        // from the indexes at hand and embed only what is new.
        let mut dirs = vec![cache_dir];
        dirs.extend(shipped);
        let donors = donor_rows(&dirs, model.dim());
        let reuse: Vec<Option<&Vec<f32>>> = keys.iter().map(|k| donors.get(k)).collect();
        let mut store = EmbeddingStore::open(&store_path(cache_dir), MODEL_ID, model.dim());
        let parts = CardParts::build_rows(
            model,
            &mut store,
            catalog,
            training,
            cfg.max_per_tool,
            &|i| reuse[i].is_none(),
        )?;
        let mut ix = Self::from_parts(catalog, &parts, cfg.card_weight);
        let dim = ix.dim;
        let mut reused = 0;
        for (i, r) in reuse.iter().enumerate() {
            if let Some(r) = r {
                ix.matrix[i * dim..(i + 1) * dim].copy_from_slice(r);
                reused += 1;
            }
        }
        tracing::info!(
            "card index: {reused} of {} tool vectors reused, the rest embedded",
            ix.len()
        );
        ix.save(&path, catalog)?;
        remove_stale(cache_dir, &path);
        Ok((ix, true))
    }

    pub fn save(&self, path: &Path, catalog: &Catalog) -> Result<()> {
        let meta = HashMap::from([
            ("model".to_string(), MODEL_ID.to_string()),
            (
                "catalog_fingerprint".to_string(),
                format!("{:016x}", catalog.fingerprint()),
            ),
            ("ids".to_string(), serde_json::to_string(&self.ids)?),
            (
                "row_keys".to_string(),
                serde_json::to_string(&self.row_keys)?,
            ),
        ]);
        write_safetensors(
            path,
            &[Raw {
                name: "cards",
                dtype: Dtype::F32,
                shape: vec![self.ids.len(), self.dim],
                data: f32_bytes(&self.matrix),
            }],
            meta,
        )
    }

    /// Reads an index file and checks that it belongs to `catalog`.
    pub fn load(path: &Path, catalog: &Catalog) -> Result<Self> {
        let f = Loaded::read(path)?;
        if f.meta("model")? != MODEL_ID {
            anyhow::bail!("{}: built with another model", path.display());
        }
        if f.meta("catalog_fingerprint")? != format!("{:016x}", catalog.fingerprint()) {
            anyhow::bail!("{}: built for another catalog", path.display());
        }
        let ids: Vec<String> = serde_json::from_str(f.meta("ids")?)
            .with_context(|| format!("{}: bad \"ids\" metadata", path.display()))?;
        let (n, dim, matrix) = f.matrix("cards")?;
        if n != ids.len()
            || ids.iter().zip(catalog.cards()).any(|(a, c)| *a != c.id)
            || n != catalog.len()
        {
            anyhow::bail!("{}: its tools do not match the catalog", path.display());
        }
        let row_keys = read_row_keys(&f, n).unwrap_or_default();
        Ok(CardIndex {
            ids,
            modalities: catalog.cards().iter().map(|c| c.input_modality).collect(),
            dim,
            matrix,
            row_keys,
        })
    }
}

/// The file's row keys, if it has a well-formed list for its `n` rows.
fn read_row_keys(f: &Loaded, n: usize) -> Option<Vec<u64>> {
    let keys: Vec<u64> = serde_json::from_str(f.meta("row_keys").ok()?).ok()?;
    (keys.len() == n).then_some(keys)
}

/// Rows of every readable index file of this model in `dirs`, by row key.
fn donor_rows(dirs: &[&Path], dim: usize) -> HashMap<u64, Vec<f32>> {
    let prefix = format!("index-{MODEL_DIR_NAME}-");
    let mut rows = HashMap::new();
    for dir in dirs {
        let Ok(rd) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || !name.ends_with(".safetensors") {
                continue;
            }
            let Ok(f) = Loaded::read(&e.path()) else {
                continue;
            };
            if f.meta("model").ok() != Some(MODEL_ID) {
                continue;
            }
            let Ok((n, d, matrix)) = f.matrix("cards") else {
                continue;
            };
            let Some(keys) = read_row_keys(&f, n) else {
                continue;
            };
            if d != dim {
                continue;
            }
            for (k, row) in keys.into_iter().zip(matrix.chunks_exact(d)) {
                rows.entry(k).or_insert_with(|| row.to_vec());
            }
        }
    }
    rows
}

/// Deletes other index files of this model (they belong to older catalogs).
fn remove_stale(cache_dir: &Path, keep: &Path) {
    let prefix = format!("index-{MODEL_DIR_NAME}-");
    let Ok(rd) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if p != keep && name.starts_with(&prefix) && name.ends_with(".safetensors") {
            if let Err(err) = std::fs::remove_file(&p) {
                tracing::warn!("{}: cannot remove stale index: {err}", p.display());
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::minilm::tests::tiny;
    use mmtool_catalog::ToolCard;

    pub(crate) fn card(id: &str, m: Modality, summary: &str) -> ToolCard {
        ToolCard {
            id: id.into(),
            task: "task".into(),
            domain: "d".into(),
            input_modality: m,
            output_modality: "text".into(),
            languages: vec![],
            summary: summary.into(),
            tags: vec![],
            api_call: "x".into(),
            confidence: "high".into(),
        }
    }

    pub(crate) fn item(instr: &str, answer: &str) -> Item {
        Item {
            id: 0,
            source_id: None,
            instruction: instr.into(),
            modality: Modality::Text,
            media_path: None,
            media_description: None,
            answers: vec![answer.into()],
            ambiguity: -1,
            one_to_many: false,
        }
    }

    pub(crate) fn catalog() -> Catalog {
        Catalog::from_cards(vec![
            card("o/mt", Modality::Text, "translate text to french"),
            card("o/up", Modality::Image, "make blurry photo sharp"),
            card("o/asr", Modality::Audio, "speech to text"),
        ])
        .unwrap()
    }

    #[test]
    fn compose_mixes_card_and_centroid() {
        let parts = CardParts {
            dim: 2,
            cards: vec![1.0, 0.0, 1.0, 0.0],
            centroids: vec![Some(vec![0.0, 1.0]), None],
            training_fingerprint: 0,
            row_bases: vec![1, 2],
        };
        let m = parts.compose(0.5);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m[0] - h).abs() < 1e-6 && (m[1] - h).abs() < 1e-6);
        assert_eq!(&m[2..], &[1.0, 0.0], "no centroid: card alone");
        assert_eq!(parts.compose(1.0)[..2], [1.0, 0.0]);
    }

    #[test]
    fn instructions_are_capped_and_unknown_answers_skipped() {
        let cat = catalog();
        let tr = vec![
            item("a", "o/mt"),
            item("b", "o/mt"),
            item("c", "o/mt"),
            item("d", "nope"),
        ];
        let per = instructions_per_tool(&cat, &tr, 2);
        assert_eq!(per, vec![vec!["a", "b"], vec![], vec![]]);
    }

    #[test]
    fn a_prebuilt_index_is_copied_in_only_when_it_fits() {
        let shipped = tempfile::tempdir().unwrap();
        let m = tiny();
        let mut cat = catalog();
        let tr = vec![item("translate this text", "o/mt")];
        let cfg = IndexConfig::default();
        let (a, _) = CardIndex::load_or_build(shipped.path(), &m, &cat, &tr, &cfg).unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (b, rebuilt) = CardIndex::load_shipped_or_build(
            cache.path(),
            Some(shipped.path()),
            &m,
            &cat,
            &tr,
            &cfg,
        )
        .unwrap();
        assert!(!rebuilt, "the prebuilt index is used");
        assert_eq!(a, b);
        assert!(CardIndex::cached_path(cache.path(), &cat, &tr, &cfg).exists());
        // Another catalog: the prebuilt file has another name and is not used.
        cat.add(card("o/music", Modality::Text, "music audio"))
            .unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (c, rebuilt) = CardIndex::load_shipped_or_build(
            cache.path(),
            Some(shipped.path()),
            &m,
            &cat,
            &tr,
            &cfg,
        )
        .unwrap();
        assert!(rebuilt);
        assert_eq!(c.len(), 4);
        // A corrupt prebuilt file of the right name is rebuilt over, not trusted.
        let cat = catalog();
        let name = CardIndex::cached_path(shipped.path(), &cat, &tr, &cfg);
        std::fs::write(&name, b"not safetensors").unwrap();
        let cache = tempfile::tempdir().unwrap();
        let (d, rebuilt) = CardIndex::load_shipped_or_build(
            cache.path(),
            Some(shipped.path()),
            &m,
            &cat,
            &tr,
            &cfg,
        )
        .unwrap();
        assert!(rebuilt);
        assert_eq!(d, a);
    }

    #[test]
    fn a_catalog_edit_embeds_only_the_changed_tools_and_matches_a_full_build() {
        let dir = tempfile::tempdir().unwrap();
        let m = tiny();
        let mut cat = catalog();
        let tr = vec![
            item("translate this text", "o/mt"),
            item("make it sharp", "o/up"),
        ];
        let cfg = IndexConfig::default();
        let (a, _) = CardIndex::load_or_build(dir.path(), &m, &cat, &tr, &cfg).unwrap();
        assert_eq!(a.row_keys.len(), a.len());
        // Forget every embedded text: whatever is embedded next shows up in the store.
        std::fs::remove_file(store_path(dir.path())).unwrap();
        cat.add(card("o/music", Modality::Audio, "music audio"))
            .unwrap();
        let (b, rebuilt) = CardIndex::load_or_build(dir.path(), &m, &cat, &tr, &cfg).unwrap();
        assert!(rebuilt);
        let store = EmbeddingStore::open(&store_path(dir.path()), MODEL_ID, m.dim());
        assert_eq!(store.len(), 1, "only the new card's text was embedded");
        assert_eq!(
            &b.matrix[..a.matrix.len()],
            &a.matrix[..],
            "old rows reused"
        );
        // The same index as building everything from scratch (up to float
        // noise: texts embedded in other batches are padded differently).
        let same = |x: &CardIndex, y: &CardIndex| {
            assert_eq!((&x.ids, &x.row_keys), (&y.ids, &y.row_keys));
            let diff = x
                .matrix
                .iter()
                .zip(&y.matrix)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(diff < 1e-5, "rows differ by {diff}");
        };
        let fresh = tempfile::tempdir().unwrap();
        let (full, _) = CardIndex::load_or_build(fresh.path(), &m, &cat, &tr, &cfg).unwrap();
        same(&b, &full);
        // A changed card text is a changed row: it is embedded again.
        let mut edited = catalog();
        edited.remove("o/up").unwrap();
        edited
            .add(card("o/up", Modality::Image, "upscale blurry photos 4x"))
            .unwrap();
        let (c, _) = CardIndex::load_or_build(dir.path(), &m, &edited, &tr, &cfg).unwrap();
        let fresh = tempfile::tempdir().unwrap();
        let (full, _) = CardIndex::load_or_build(fresh.path(), &m, &edited, &tr, &cfg).unwrap();
        same(&c, &full);
    }

    #[test]
    fn index_is_cached_by_catalog_and_rebuilt_when_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let m = tiny();
        let mut cat = catalog();
        let tr = vec![item("translate this text", "o/mt")];
        let cfg = IndexConfig::default();
        let (a, rebuilt) = CardIndex::load_or_build(dir.path(), &m, &cat, &tr, &cfg).unwrap();
        assert!(rebuilt);
        assert_eq!(a.len(), 3);
        let (b, rebuilt) = CardIndex::load_or_build(dir.path(), &m, &cat, &tr, &cfg).unwrap();
        assert!(!rebuilt);
        assert_eq!(a, b);
        cat.add(card("o/music", Modality::Text, "music audio"))
            .unwrap();
        let (c, rebuilt) = CardIndex::load_or_build(dir.path(), &m, &cat, &tr, &cfg).unwrap();
        assert!(rebuilt);
        assert_eq!(c.len(), 4);
        assert_eq!(
            c.matrix[..3 * c.dim],
            a.matrix[..],
            "old cards keep their vectors"
        );
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("index-"))
            .collect();
        assert_eq!(files.len(), 1, "stale index removed: {files:?}");
        // An index file of another catalog is refused.
        let p = dir.path().join(&files[0]);
        let err = CardIndex::load(&p, &catalog()).unwrap_err().to_string();
        assert!(err.contains("another catalog"), "{err}");
    }
}
