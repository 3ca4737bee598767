//! Which training items get media and what exactly is rendered for each: a
//! pure function of the items, the photo names and the options (seed
//! included), so that a re-run renders and writes the same files.

use std::collections::{BTreeMap, VecDeque};

use anyhow::{bail, Result};
use mmtool_catalog::Catalog;
use mmtool_data::{Item, Modality};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::kind::{
    attached_condition, condition_for_tool, dark_on_light, degradation_for, is_restoration_tool,
    mentions_jpeg, size_in, Condition, Degradation,
};
use crate::lang::{self, words, Language, LANGUAGES};
use crate::render::Picture;
use crate::speech::{variant_for, SpeechSpec};

/// Bumped whenever a renderer changes its output, so that files rendered by
/// an older version are not taken for this version's (the number is part
/// of every media file name).
pub const RENDER_VERSION: u32 = 1;

/// The training files media is rendered for. Never the test set.
pub const SOURCE_FILES: [&str; 2] = ["train_synth.json", "train_audio.json"];

/// A training item and the file it came from.
#[derive(Debug, Clone)]
pub struct Source {
    pub file: String,
    pub item: Item,
}

#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub seed: u64,
    /// Most speech clips.
    pub max_speech: usize,
    /// Most images of all kinds together.
    pub max_images: usize,
    /// Most plain photos (for items whose tool takes any photo).
    pub max_plain: usize,
    /// Most items per answer tool, per group (speech, special images, photos).
    pub max_per_tool: usize,
    /// Share of the rendered items held out for evaluation.
    pub eval_share: f64,
    /// Share of the base photos only eval items use.
    pub eval_photo_share: f64,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            seed: 7,
            max_speech: 400,
            max_images: 700,
            max_plain: 150,
            max_per_tool: 40,
            eval_share: 0.12,
            eval_photo_share: 0.25,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Split {
    Train,
    Eval,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImageSpec {
    pub picture: Picture,
    /// File name of the base photo in the photos folder.
    pub photo: String,
    pub width: u32,
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    Speech(SpeechSpec),
    Image(ImageSpec),
}

/// One item to render and write.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Unique across train and eval.
    pub id: u64,
    pub split: Split,
    /// `file#id` of the source item.
    pub source: String,
    pub item: Item,
    pub media: Media,
    /// Seed of the render's own random choices.
    pub seed: u64,
    /// Media file, relative to the output folder.
    pub path: String,
    /// What was rendered, in words.
    pub synth: String,
}

impl Entry {
    /// The group the entry is counted in: `speech`, `condition: canny
    /// edges`, `degraded: hazy photo`, `photo`.
    pub fn kind(&self) -> String {
        match &self.media {
            Media::Speech(_) => "speech".into(),
            Media::Image(s) => match &s.picture {
                Picture::Condition { .. } => format!("condition: {}", s.picture.name()),
                Picture::Degraded { .. } => format!("degraded: {}", s.picture.name()),
                Picture::Photo => "photo".into(),
            },
        }
    }

    pub fn language(&self) -> Option<&'static Language> {
        match &self.media {
            Media::Speech(s) => Some(s.lang),
            Media::Image(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub options: PlanOptions,
    pub entries: Vec<Entry>,
    pub train_photos: Vec<String>,
    pub eval_photos: Vec<String>,
    /// Index of each language's eval-only sentence.
    pub eval_sentence: BTreeMap<&'static str, usize>,
}

/// What an item's attachment should be, before the split-dependent choices.
#[derive(Debug, Clone)]
enum Want {
    Speech(&'static Language),
    Condition(Condition, bool),
    Degraded(Option<Degradation>, Option<(u32, u32)>, bool),
    Photo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Speech,
    /// Condition maps and degraded photos.
    Special,
    Plain,
}

#[derive(Debug, Clone)]
struct Candidate<'a> {
    src: &'a Source,
    want: Want,
    group: Group,
}

impl Candidate<'_> {
    fn answer(&self) -> &str {
        &self.src.item.answers[0]
    }

    /// What to spread an answer's picks over: languages, picture kinds.
    fn variety(&self) -> String {
        match &self.want {
            Want::Speech(l) => l.code.into(),
            Want::Condition(c, _) => c.name().into(),
            Want::Degraded(d, _, _) => d.map_or("any", |d| d.name()).into(),
            Want::Photo => String::new(),
        }
    }
}

/// The language an audio item is spoken in: from the folder of a released
/// item's path, else from the description of a synthetic one. Songs are
/// left out: espeak-ng cannot sing.
pub fn speech_language(item: &Item) -> Option<&'static Language> {
    if let Some(p) = item.media_path.as_deref() {
        return lang::from_media_path(p);
    }
    let d = item.media_description.as_deref()?;
    let sung = [
        "song", "songs", "singing", "sings", "sung", "choir", "karaoke", "lyrics",
    ];
    if words(d).any(|w| sung.contains(&w.as_str())) {
        return None;
    }
    lang::from_description(d)
}

fn classify<'a>(src: &'a Source, catalog: &Catalog) -> Option<Candidate<'a>> {
    let item = &src.item;
    let desc = item.media_description.as_deref();
    let (want, group) = match item.modality {
        Modality::Audio => (Want::Speech(speech_language(item)?), Group::Speech),
        Modality::Image => {
            let tool = item.answers.first()?;
            if let Some(c) = condition_for_tool(tool) {
                let c = attached_condition(c, desc);
                // Only scribbles come both ways; line art is always dark on white.
                let dark = c == Condition::Scribble && desc.is_some_and(dark_on_light);
                (Want::Condition(c, dark), Group::Special)
            } else if let Some(card) = catalog.get(tool).filter(|c| is_restoration_tool(c)) {
                let d = degradation_for(card, desc);
                let small = desc.and_then(size_in);
                let jpeg = desc.is_some_and(mentions_jpeg);
                (Want::Degraded(d, small, jpeg), Group::Special)
            } else {
                (Want::Photo, Group::Plain)
            }
        }
        _ => return None,
    };
    Some(Candidate { src, want, group })
}

/// Up to `budget` candidates, spread evenly over answers (round-robin over
/// the answers in random order, at most `cap` each) and, within an answer,
/// over languages or picture kinds.
fn balanced_pick<'a>(
    cands: Vec<Candidate<'a>>,
    budget: usize,
    cap: usize,
    rng: &mut impl Rng,
) -> Vec<Candidate<'a>> {
    let mut by_answer: BTreeMap<String, Vec<Candidate<'a>>> = BTreeMap::new();
    for c in cands {
        by_answer.entry(c.answer().to_string()).or_default().push(c);
    }
    let mut queues: Vec<VecDeque<Candidate<'a>>> = by_answer
        .into_values()
        .map(|mut list| {
            list.shuffle(rng);
            let mut by_variety: BTreeMap<String, VecDeque<Candidate<'a>>> = BTreeMap::new();
            for c in list {
                by_variety.entry(c.variety()).or_default().push_back(c);
            }
            let mut lanes: Vec<VecDeque<Candidate<'a>>> = by_variety.into_values().collect();
            lanes.shuffle(rng);
            let mut out = VecDeque::new();
            while lanes.iter().any(|l| !l.is_empty()) {
                for lane in lanes.iter_mut() {
                    out.extend(lane.pop_front());
                }
            }
            out
        })
        .collect();
    queues.shuffle(rng);
    let mut picked = Vec::new();
    for _round in 0..cap {
        for q in queues.iter_mut() {
            if picked.len() == budget {
                return picked;
            }
            picked.extend(q.pop_front());
        }
    }
    picked
}

/// Output sizes: mostly the square 512 the ControlNets use, some 4:3.
#[rustfmt::skip]
const SIZES: [(u32, u32); 6] = [
    (512, 512), (512, 512), (512, 384), (384, 512), (640, 480), (480, 640),
];

/// Plans the renders for `sources` using the base photos named `photos`.
pub fn build_plan(
    sources: &[Source],
    catalog: &Catalog,
    photos: &[String],
    opts: &PlanOptions,
) -> Result<Plan> {
    if sources.iter().any(|s| s.file.ends_with("test.json")) {
        bail!("test.json is for measuring only; media is rendered for training files");
    }
    let rng = &mut ChaCha8Rng::seed_from_u64(opts.seed);

    // Held-out photos and sentences are fixed once, before anything is picked.
    let mut photos: Vec<String> = photos.to_vec();
    photos.sort();
    photos.dedup();
    photos.shuffle(rng);
    let n_eval = ((photos.len() as f64 * opts.eval_photo_share).round() as usize)
        .clamp(1, photos.len().saturating_sub(1).max(1));
    let eval_photos: Vec<String> = photos.iter().take(n_eval).cloned().collect();
    let train_photos: Vec<String> = photos.iter().skip(n_eval).cloned().collect();
    let eval_sentence: BTreeMap<&'static str, usize> = LANGUAGES
        .iter()
        .map(|l| (l.code, rng.random_range(0..l.sentences.len())))
        .collect();

    let mut groups: BTreeMap<Group, Vec<Candidate>> = BTreeMap::new();
    for c in sources.iter().filter_map(|s| classify(s, catalog)) {
        groups.entry(c.group).or_default().push(c);
    }
    let mut take = |g: Group, budget: usize| {
        balanced_pick(
            groups.remove(&g).unwrap_or_default(),
            budget,
            opts.max_per_tool,
            rng,
        )
    };
    let speech = take(Group::Speech, opts.max_speech);
    // Photos keep a fifth of the image budget at most; the condition maps
    // and degraded photos are what the projection most needs to see.
    let plain_reserve = opts.max_plain.min(opts.max_images / 5);
    let special = take(Group::Special, opts.max_images - plain_reserve);
    let plain = take(
        Group::Plain,
        opts.max_plain.min(opts.max_images - special.len()),
    );
    let picked: Vec<Candidate> = speech.into_iter().chain(special).chain(plain).collect();
    let has_images = picked.iter().any(|c| c.group != Group::Speech);
    if has_images && photos.len() < 2 {
        bail!(
            "need at least 2 base photos (one for training, one held out), found {}",
            photos.len()
        );
    }

    // Stratified eval split: each answer gives its share, the rounding
    // carried over from answer to answer so the total is right.
    let mut split = vec![Split::Train; picked.len()];
    let mut by_answer: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, c) in picked.iter().enumerate() {
        by_answer.entry(c.answer()).or_default().push(i);
    }
    let (mut acc, mut taken) = (0.0f64, 0usize);
    for idxs in by_answer.values() {
        acc += idxs.len() as f64 * opts.eval_share;
        let want = (acc.round() as usize).saturating_sub(taken).min(idxs.len());
        for &i in &idxs[..want] {
            split[i] = Split::Eval;
        }
        taken += want;
    }

    let entries = picked
        .iter()
        .zip(split)
        .enumerate()
        .map(|(i, (c, split))| {
            let id = i as u64 + 1;
            let rng = &mut ChaCha8Rng::seed_from_u64(mix(opts.seed, id));
            let desc = c.src.item.media_description.as_deref();
            let media = match &c.want {
                Want::Speech(lang) => {
                    let held_out = eval_sentence[lang.code];
                    let sentence = if split == Split::Eval {
                        held_out
                    } else {
                        let pool: Vec<usize> = (0..lang.sentences.len())
                            .filter(|&s| s != held_out)
                            .collect();
                        pool[rng.random_range(0..pool.len())]
                    };
                    let variant = variant_for(desc, |n| rng.random_range(0..n));
                    Media::Speech(SpeechSpec {
                        lang,
                        sentence,
                        voice: format!("{}+{variant}", lang.espeak),
                        speed: rng.random_range(140..=180),
                        pitch: rng.random_range(30..=70),
                    })
                }
                want => {
                    let pool = if split == Split::Eval {
                        &eval_photos
                    } else {
                        &train_photos
                    };
                    let photo = pool[rng.random_range(0..pool.len())].clone();
                    let (width, height) = SIZES[rng.random_range(0..SIZES.len())];
                    let picture = match *want {
                        Want::Condition(condition, dark_on_light) => Picture::Condition {
                            condition,
                            dark_on_light,
                        },
                        Want::Degraded(d, small, jpeg) => {
                            let degradation = d.unwrap_or_else(|| {
                                Degradation::ALL[rng.random_range(0..Degradation::ALL.len())]
                            });
                            Picture::Degraded {
                                degradation,
                                small: small.filter(|_| degradation == Degradation::LowRes),
                                jpeg,
                            }
                        }
                        _ => Picture::Photo,
                    };
                    Media::Image(ImageSpec {
                        picture,
                        photo,
                        width,
                        height,
                    })
                }
            };
            let seed = rng.random::<u64>();
            let synth = describe(&media);
            let (dir, ext) = match &media {
                Media::Speech(_) => ("audio", "wav"),
                Media::Image(s) => ("image", s.picture.extension()),
            };
            let hash = fnv1a(&format!("{RENDER_VERSION}|{seed}|{synth}")) as u32;
            Entry {
                id,
                split,
                source: format!("{}#{}", c.src.file, c.src.item.id),
                item: c.src.item.clone(),
                media,
                seed,
                path: format!("{dir}/{id:06}-{hash:08x}.{ext}"),
                synth,
            }
        })
        .collect();
    Ok(Plan {
        options: opts.clone(),
        entries,
        train_photos,
        eval_photos,
        eval_sentence,
    })
}

/// The `synth` note of an output item.
fn describe(media: &Media) -> String {
    match media {
        Media::Speech(s) => format!(
            "speech {} ({}), espeak-ng voice {}, speed {}, pitch {}: \"{}\"",
            s.lang.code,
            s.lang.name,
            s.voice,
            s.speed,
            s.pitch,
            s.text()
        ),
        Media::Image(s) => {
            let mut d = s.picture.name().to_string();
            if s.picture.uses_photo() {
                d.push_str(&format!(" from {}", s.photo));
            }
            d.push_str(&format!(", {}x{}", s.width, s.height));
            match &s.picture {
                Picture::Condition {
                    dark_on_light: true,
                    ..
                } => d.push_str(", dark on light"),
                Picture::Degraded { small, jpeg, .. } => {
                    if let Some((w, h)) = small {
                        d.push_str(&format!(", shrunk to {w}x{h}"));
                    }
                    if *jpeg {
                        d.push_str(", JPEG-compressed");
                    }
                }
                _ => {}
            }
            d
        }
    }
}

/// SplitMix64 of the seed and an index: independent per-item streams.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// 64-bit FNV-1a: a stable hash (std's is seeded per process).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(path: Option<&str>, desc: Option<&str>) -> Item {
        Item {
            id: 1,
            source_id: None,
            instruction: "x".into(),
            modality: Modality::Audio,
            media_path: path.map(String::from),
            media_description: desc.map(String::from),
            answers: vec!["t".into()],
            ambiguity: -1,
            one_to_many: false,
        }
    }

    #[test]
    fn speech_language_from_path_or_description() {
        let code = |p, d| speech_language(&audio(p, d)).map(|l| l.code);
        assert_eq!(code(Some("germanphrases/x.wav"), None), Some("de"));
        // A released path decides, even against a description.
        assert_eq!(code(Some("music/1.wav"), Some("A song in French")), None);
        assert_eq!(code(None, Some("A voicemail in Polish")), Some("pl"));
        assert_eq!(code(None, Some("A pop song sung in Spanish")), None);
        assert_eq!(code(None, None), None);
    }

    #[test]
    fn hashes_and_streams_are_stable() {
        // Changing these would rename every media file of every earlier run.
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(mix(7, 1), mix(7, 2));
        assert_ne!(mix(7, 1), mix(8, 1));
    }
}
