//! Real-weight checks: Whisper-base identifies the language of speech synthesised by espeak-ng.
//! Skips (with a message) when the weights or espeak-ng are missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use mmtool_encoders::Whisper;
use rubato::{FftFixedIn, Resampler};

fn weights_dir() -> Option<PathBuf> {
    let cache = std::env::var_os("MMTOOL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/mmtool")))?;
    let dir = cache.join("models/whisper");
    dir.join("model.bin").is_file().then_some(dir)
}

fn espeak_available() -> bool {
    Command::new("espeak-ng")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Speaks `text` with espeak-ng into `dir` and returns it as 16 kHz mono f32.
fn speak(dir: &Path, voice: &str, text: &str) -> Vec<f32> {
    let wav = dir.join(format!("{voice}.wav"));
    let status = Command::new("espeak-ng")
        .args(["-v", voice, "-s", "130", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("run espeak-ng");
    assert!(status.success(), "espeak-ng failed for voice {voice}");
    let mut reader = hound::WavReader::open(&wav).expect("read espeak WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.channels, spec.sample_format),
        (1, hound::SampleFormat::Int)
    );
    let samples: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| s.expect("WAV sample") as f32 / 32768.0)
        .collect();
    resample(&samples, spec.sample_rate as usize, 16_000)
}

fn resample(input: &[f32], from: usize, to: usize) -> Vec<f32> {
    if from == to {
        return input.to_vec();
    }
    let mut rs = FftFixedIn::<f32>::new(from, to, 1024, 2, 1).expect("resampler");
    let mut out = Vec::new();
    let mut pos = 0;
    while input.len() - pos >= rs.input_frames_next() {
        let n = rs.input_frames_next();
        out.extend_from_slice(&rs.process(&[&input[pos..pos + n]], None).unwrap()[0]);
        pos += n;
    }
    out.extend_from_slice(
        &rs.process_partial(Some(&[&input[pos..]][..]), None)
            .unwrap()[0],
    );
    out.extend_from_slice(&rs.process_partial::<&[f32]>(None, None).unwrap()[0]);
    let delay = rs.output_delay();
    let len = input.len() * to / from;
    out.drain(..delay.min(out.len()));
    out.truncate(len);
    out
}

const SPEECH: [(&str, &str, &str); 8] = [
    (
        "en",
        "en",
        "The weather is sunny and warm today, so we will walk to the park after lunch and read a book.",
    ),
    (
        "de",
        "de",
        "Das Wetter ist heute sonnig und warm, deshalb gehen wir nach dem Mittagessen in den Park und lesen ein Buch.",
    ),
    (
        "fr",
        "fr",
        "Il fait beau et chaud aujourd'hui, alors nous irons au parc après le déjeuner pour lire un livre.",
    ),
    (
        "es",
        "es",
        "Hoy hace sol y calor, así que después del almuerzo vamos a caminar al parque y leer un libro.",
    ),
    (
        "cmn",
        "zh",
        "今天天气晴朗温暖，所以我们吃完午饭以后去公园散步，然后看一本书。",
    ),
    (
        "ru",
        "ru",
        "Сегодня солнечно и тепло, поэтому после обеда мы пойдём гулять в парк и читать книгу.",
    ),
    (
        "it",
        "it",
        "Oggi fa bello e caldo, quindi dopo pranzo andremo al parco a leggere un libro.",
    ),
    (
        "pt",
        "pt",
        "Hoje está sol e calor, então depois do almoço vamos caminhar até o parque e ler um livro.",
    ),
];

/// Top-1 language for each espeak-ng sample, as (expected code, predicted code); computed once
/// for all tests of this file (each clip costs a full encoder pass).
fn identify_all() -> Option<Vec<(&'static str, String)>> {
    static ONCE: std::sync::OnceLock<Option<Vec<(&'static str, String)>>> =
        std::sync::OnceLock::new();
    ONCE.get_or_init(identify_all_uncached).clone()
}

fn identify_all_uncached() -> Option<Vec<(&'static str, String)>> {
    let Some(dir) = weights_dir() else {
        eprintln!("SKIP: Whisper weights not found (run scripts/fetch-weights.sh whisper)");
        return None;
    };
    if !espeak_available() {
        eprintln!("SKIP: espeak-ng not installed (see scripts/apt-packages.txt)");
        return None;
    }
    let whisper = Whisper::load(&dir).expect("load Whisper");
    assert_eq!(whisper.dim(), 512);
    let tmp = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    for (voice, code, text) in SPEECH {
        let audio = speak(tmp.path(), voice, text);
        let analysis = whisper.analyze(&audio, 3).expect("analyze");
        assert_eq!(analysis.embedding.len(), 512);
        assert!(analysis.embedding.iter().all(|x| x.is_finite()));
        eprintln!(
            "{voice}: {:.1} s -> {:?}",
            audio.len() as f32 / 16_000.0,
            analysis.languages
        );
        out.push((code, analysis.languages[0].0.clone()));
    }
    Some(out)
}

/// The languages Whisper-base names reliably from espeak-ng voices (p >= 0.84 when measured);
/// a broken front end or weight mapping loses these first.
#[test]
fn identifies_espeak_english_german_spanish() {
    let Some(results) = identify_all() else {
        return;
    };
    for (want, got) in results {
        if ["en", "de", "es"].contains(&want) {
            assert_eq!(got, want, "espeak-ng {want} speech identified as {got}");
        }
    }
}

/// The task's bar: at least 5 of 6 languages. The six are en, de, fr, es, it, pt. They were
/// chosen after measuring (docs/whisper.md): the reference CTranslate2 implementation of the
/// same weights hears espeak-ng's Mandarin as English and its Russian as Polish too, so those
/// two voices test espeak-ng's accent, not this code; they are still run and printed.
#[test]
fn identifies_espeak_speech_in_five_of_six_languages() {
    let Some(results) = identify_all() else {
        return;
    };
    let six = ["en", "de", "fr", "es", "it", "pt"];
    let scored: Vec<_> = results
        .iter()
        .filter(|(want, _)| six.contains(want))
        .collect();
    assert_eq!(scored.len(), 6);
    let correct = scored.iter().filter(|(want, got)| want == got).count();
    assert!(
        correct >= 5,
        "only {correct}/6 languages identified: {results:?}"
    );
}

#[test]
fn real_weights_are_deterministic() {
    let Some(dir) = weights_dir() else {
        eprintln!("SKIP: Whisper weights not found (run scripts/fetch-weights.sh whisper)");
        return;
    };
    let whisper = Whisper::load(&dir).expect("load Whisper");
    let audio: Vec<f32> = (0..32_000)
        .map(|i| 0.2 * (i as f32 * 0.05).sin() * (i as f32 * 0.0007).cos())
        .collect();
    let a = whisper.analyze(&audio, 5).unwrap();
    let b = whisper.analyze(&audio, 5).unwrap();
    assert_eq!(a.embedding, b.embedding);
    assert_eq!(a.languages, b.languages);
    assert_eq!(whisper.languages().count(), 99);
}
