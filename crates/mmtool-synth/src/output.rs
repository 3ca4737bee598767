//! Carrying out a plan: rendering the media files and writing `train.json`,
//! `eval.json` and `manifest.json`, all inside the output folder.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use image::RgbImage;
use mmtool_data::write_atomic;
use rayon::prelude::*;
use serde_json::{json, Value};

use crate::plan::{Entry, Media, Plan, Split, RENDER_VERSION};
use crate::render::render;
use crate::speech::Espeak;

pub const TRAIN_FILE: &str = "train.json";
pub const EVAL_FILE: &str = "eval.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// Photo file names (png/jpg) in `dir`, sorted; an error that says how to
/// fill the folder when there are none.
pub fn list_photos(dir: &Path) -> Result<Vec<String>> {
    let hint = "run scripts/fetch-test-images.sh (it extracts scikit-image's sample \
                photos into $MMTOOL_CACHE/testdata/skimage-all) or pass --photos DIR";
    let read = std::fs::read_dir(dir)
        .with_context(|| format!("no base photos: cannot read {}; {hint}", dir.display()))?;
    let mut names = Vec::new();
    for entry in read {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let lower = name.to_ascii_lowercase();
        if [".png", ".jpg", ".jpeg"].iter().any(|e| lower.ends_with(e)) {
            names.push(name);
        }
    }
    if names.is_empty() {
        bail!("no base photos (png/jpg) in {}; {hint}", dir.display());
    }
    names.sort();
    Ok(names)
}

/// How a render run went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RenderReport {
    pub rendered: usize,
    /// Already there from an earlier run with the same plan.
    pub kept: usize,
    /// Media files of earlier plans that this plan does not use.
    pub removed: usize,
    /// `espeak-ng --version`, when speech was planned.
    pub espeak_version: Option<String>,
}

/// Renders every entry's media into `out` (skipping files that exist
/// unless `force`), in parallel; `progress` is called once per entry.
pub fn render_media(
    plan: &Plan,
    photos_dir: &Path,
    out: &Path,
    force: bool,
    espeak: &Espeak,
    progress: &(dyn Fn() + Sync),
) -> Result<RenderReport> {
    let mut report = RenderReport::default();
    let speech_voices: BTreeSet<&str> = plan
        .entries
        .iter()
        .filter_map(|e| match &e.media {
            Media::Speech(s) => Some(s.lang.espeak),
            Media::Image(_) => None,
        })
        .collect();
    if !speech_voices.is_empty() {
        report.espeak_version = Some(espeak.version()?);
        let have = espeak.voices()?;
        let missing: Vec<&str> = speech_voices
            .into_iter()
            .filter(|v| !have.contains(*v))
            .collect();
        if !missing.is_empty() {
            bail!(
                "espeak-ng ({}) has no voice {}; it would speak English instead",
                espeak.program.display(),
                missing.join(", ")
            );
        }
    }
    let photos = load_photos(plan, photos_dir)?;
    for dir in ["audio", "image"] {
        std::fs::create_dir_all(out.join(dir))
            .with_context(|| format!("creating {}", out.join(dir).display()))?;
    }
    let done: Vec<bool> = plan
        .entries
        .par_iter()
        .map(|e| {
            let path = out.join(&e.path);
            let fresh = force || !path.exists();
            if fresh {
                render_entry(e, &photos, &path, espeak)
                    .with_context(|| format!("rendering {} for {}", e.path, e.source))?;
            }
            progress();
            Ok(fresh)
        })
        .collect::<Result<_>>()?;
    report.rendered = done.iter().filter(|&&d| d).count();
    report.kept = done.len() - report.rendered;
    report.removed = remove_stale(plan, out)?;
    Ok(report)
}

fn load_photos(plan: &Plan, dir: &Path) -> Result<HashMap<String, RgbImage>> {
    let names: BTreeSet<&str> = plan
        .entries
        .iter()
        .filter_map(|e| match &e.media {
            Media::Image(s) => Some(s.photo.as_str()),
            Media::Speech(_) => None,
        })
        .collect();
    names
        .into_par_iter()
        .map(|n| {
            let p = dir.join(n);
            let img = image::open(&p)
                .with_context(|| format!("reading base photo {}", p.display()))?
                .to_rgb8();
            Ok((n.to_string(), img))
        })
        .collect()
}

fn render_entry(
    e: &Entry,
    photos: &HashMap<String, RgbImage>,
    path: &Path,
    espeak: &Espeak,
) -> Result<()> {
    match &e.media {
        Media::Speech(s) => espeak.speak(s, path),
        Media::Image(s) => {
            let photo = &photos[&s.photo];
            let r = render(&s.picture, photo, s.width, s.height, e.seed);
            let ext = s.picture.extension();
            write_atomic(path, &r.encode(ext)?)
                .with_context(|| format!("writing {}", path.display()))
        }
    }
}

/// Deletes media files this tool wrote for other plans (and temporary
/// files a crash left): only names of its own pattern, only in its folders.
fn remove_stale(plan: &Plan, out: &Path) -> Result<usize> {
    let wanted: BTreeSet<&str> = plan.entries.iter().map(|e| e.path.as_str()).collect();
    let mut removed = 0;
    for dir in ["audio", "image"] {
        let Ok(read) = std::fs::read_dir(out.join(dir)) else {
            continue;
        };
        for entry in read {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{dir}/{name}");
            if (is_media_name(&name) || name.starts_with(".tmp")) && !wanted.contains(rel.as_str())
            {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("removing stale {}", entry.path().display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// `000123-0a1b2c3d.png`: six digits, dash, eight hex digits, an extension we write.
fn is_media_name(name: &str) -> bool {
    let Some((stem, ext)) = name.split_once('.') else {
        return false;
    };
    let b = stem.as_bytes();
    ["wav", "png", "jpg"].contains(&ext)
        && b.len() == 15
        && b[..6].iter().all(u8::is_ascii_digit)
        && b[6] == b'-'
        && b[7..].iter().all(u8::is_ascii_hexdigit)
}

/// An entry as a ToolMMBench item (the released schema plus
/// `media_description`, `synth` and `source`).
pub fn item_json(e: &Entry) -> Value {
    let it = &e.item;
    let path_of = |m: &str| {
        if it.modality.as_str() == m {
            e.path.as_str()
        } else {
            ""
        }
    };
    let answer = if it.answers.len() == 1 {
        json!(it.answers[0])
    } else {
        json!(it.answers)
    };
    let mut v = json!({
        "id": e.id,
        "image_path": path_of("image"),
        "audio_path": path_of("audio"),
        "video_path": "",
        "input_modality": it.modality.as_str(),
        "output_modality": "text",
        "conversations": [
            {"from": "human", "value": it.instruction, "input_modality": it.modality.as_str()},
            {"from": "gpt", "value": answer, "ambiguity": it.ambiguity, "output_modality": "text"},
        ],
        "ambiguity": it.ambiguity,
        "ifambiguity": it.ambiguity != -1,
        "onetomulti": it.one_to_many,
        "synth": e.synth,
        "source": e.source,
    });
    if let Some(d) = &it.media_description {
        v["media_description"] = json!(d);
    }
    v
}

/// Counts for the summary and the manifest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub train: usize,
    pub eval: usize,
    /// kind -> (train, eval)
    pub by_kind: BTreeMap<String, (usize, usize)>,
    /// language code -> clips
    pub by_language: BTreeMap<String, usize>,
}

pub fn counts(plan: &Plan) -> Counts {
    let mut c = Counts::default();
    for e in &plan.entries {
        c.total += 1;
        let slot = c.by_kind.entry(e.kind()).or_default();
        if e.split == Split::Eval {
            c.eval += 1;
            slot.1 += 1;
        } else {
            c.train += 1;
            slot.0 += 1;
        }
        if let Some(l) = e.language() {
            *c.by_language.entry(l.code.to_string()).or_default() += 1;
        }
    }
    c
}

/// Writes `train.json`, `eval.json` and `manifest.json` into `out`
/// (atomically); returns their paths.
pub fn write_files(plan: &Plan, out: &Path, espeak_version: Option<&str>) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (split, name) in [(Split::Train, TRAIN_FILE), (Split::Eval, EVAL_FILE)] {
        let items: Vec<Value> = plan
            .entries
            .iter()
            .filter(|e| e.split == split)
            .map(item_json)
            .collect();
        let path = out.join(name);
        write_atomic(&path, &pretty(&Value::Array(items))?)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    let c = counts(plan);
    let o = &plan.options;
    let eval_sentences: BTreeMap<&str, &str> = plan
        .eval_sentence
        .iter()
        .map(|(code, &i)| {
            (
                *code,
                crate::lang::by_code(code).map_or("", |l| l.sentences[i]),
            )
        })
        .collect();
    let manifest = json!({
        "generator": format!("mmtool-synth {} (render version {RENDER_VERSION})", env!("CARGO_PKG_VERSION")),
        "seed": o.seed,
        "options": {
            "max_speech": o.max_speech, "max_images": o.max_images, "max_plain": o.max_plain,
            "max_per_tool": o.max_per_tool, "eval_share": o.eval_share,
            "eval_photo_share": o.eval_photo_share,
        },
        "files": {"train": TRAIN_FILE, "eval": EVAL_FILE},
        "counts": {
            "total": c.total, "train": c.train, "eval": c.eval,
            "by_kind": c.by_kind.iter().map(|(k, (t, e))| (k.clone(), json!({"train": t, "eval": e}))).collect::<serde_json::Map<_, _>>(),
            "by_language": c.by_language,
        },
        "tools": {"espeak-ng": espeak_version},
        "photos": {"train": plan.train_photos, "eval": plan.eval_photos},
        "eval_sentences": eval_sentences,
    });
    let path = out.join(MANIFEST_FILE);
    write_atomic(&path, &pretty(&manifest)?)
        .with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    Ok(written)
}

fn pretty(v: &Value) -> Result<Vec<u8>> {
    let mut bytes = serde_json::to_vec_pretty(v)?;
    bytes.push(b'\n');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_names() {
        assert!(is_media_name("000123-0a1b2c3d.png"));
        assert!(is_media_name("000001-ffffffff.wav"));
        assert!(!is_media_name("000123-0a1b2c3d.txt"));
        assert!(!is_media_name("notes.png"));
        assert!(!is_media_name("000123-0a1b2c3.png"));
    }

    #[test]
    fn missing_photos_name_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let err = list_photos(dir.path()).unwrap_err().to_string();
        assert!(err.contains("fetch-test-images.sh"), "{err}");
        let err = list_photos(&dir.path().join("nope"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fetch-test-images.sh") && err.contains("nope"),
            "{err}"
        );
        std::fs::write(dir.path().join("a.png"), b"x").unwrap();
        std::fs::write(dir.path().join("b.txt"), b"x").unwrap();
        assert_eq!(list_photos(dir.path()).unwrap(), vec!["a.png"]);
    }
}
