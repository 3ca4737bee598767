//! Speech through the `espeak-ng` command (Debian package espeak-ng).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::lang::{words, Language};

/// What to say and how.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechSpec {
    pub lang: &'static Language,
    /// Index into `lang.sentences`.
    pub sentence: usize,
    /// espeak-ng voice with a variant, e.g. `de+f3`.
    pub voice: String,
    /// Words per minute.
    pub speed: u32,
    /// 0-99.
    pub pitch: u32,
}

impl SpeechSpec {
    pub fn text(&self) -> &'static str {
        self.lang.sentences[self.sentence]
    }
}

/// espeak-ng's voice variants: male `m1`-`m7`, female `f1`-`f5`.
const MALE: [&str; 7] = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"];
const FEMALE: [&str; 5] = ["f1", "f2", "f3", "f4", "f5"];

/// A voice variant matching the speaker a description mentions ("a young
/// woman", "male anchor"); `pick` chooses among the candidates.
pub fn variant_for(description: Option<&str>, pick: impl FnOnce(usize) -> usize) -> &'static str {
    let ws: Vec<String> = description.map(|d| words(d).collect()).unwrap_or_default();
    let said = |keys: &[&str]| ws.iter().any(|w| keys.contains(&w.as_str()));
    let female = said(&[
        "woman", "women", "female", "girl", "her", "she", "lady", "mother",
    ]);
    let male = said(&[
        "man",
        "men",
        "male",
        "boy",
        "his",
        "he",
        "gentleman",
        "father",
    ]);
    let pool: Vec<&'static str> = match (female, male) {
        (true, false) => FEMALE.to_vec(),
        (false, true) => MALE.to_vec(),
        _ => MALE.iter().chain(&FEMALE).copied().collect(),
    };
    pool[pick(pool.len()) % pool.len()]
}

/// The espeak-ng program.
#[derive(Debug, Clone)]
pub struct Espeak {
    pub program: PathBuf,
}

impl Default for Espeak {
    fn default() -> Self {
        Espeak {
            program: PathBuf::from("espeak-ng"),
        }
    }
}

impl Espeak {
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Espeak {
            program: program.into(),
        }
    }

    /// The first line of `espeak-ng --version`; the error says how to install it.
    pub fn version(&self) -> Result<String> {
        let out = Command::new(&self.program)
            .arg("--version")
            .output()
            .with_context(|| {
                format!(
                    "cannot run `{} --version`; speech is rendered with espeak-ng \
                     (Debian package espeak-ng, see scripts/apt-packages.txt)",
                    self.program.display()
                )
            })?;
        if !out.status.success() {
            bail!(
                "`{} --version` failed ({}): {}",
                self.program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().next().unwrap_or("").trim().to_string())
    }

    /// The voices `espeak-ng --voices` lists (its language column: `de`,
    /// `cmn`, `en-us`...). espeak-ng silently falls back to English for a
    /// voice it does not have, so voices are checked against this first.
    pub fn voices(&self) -> Result<std::collections::BTreeSet<String>> {
        let out = Command::new(&self.program)
            .arg("--voices")
            .output()
            .with_context(|| format!("cannot run `{} --voices`", self.program.display()))?;
        if !out.status.success() {
            bail!(
                "`{} --voices` failed ({})",
                self.program.display(),
                out.status
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().nth(1).map(str::to_string))
            .collect())
    }

    /// Speaks `spec` into the WAV file `out` (written beside it, then
    /// renamed, so a crash leaves no half file), and checks the result.
    pub fn speak(&self, spec: &SpeechSpec, out: &Path) -> Result<()> {
        let dir = out.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .suffix(".wav")
            .tempfile_in(dir)
            .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
        let mut cmd = Command::new(&self.program);
        cmd.args(["-v", &spec.voice])
            .args(["-s", &spec.speed.to_string()])
            .args(["-p", &spec.pitch.to_string()])
            .arg("-w")
            .arg(tmp.path())
            .arg(spec.text());
        let shown = format!(
            "`{} -v {} -s {} -p {} -w {} {:?}`",
            self.program.display(),
            spec.voice,
            spec.speed,
            spec.pitch,
            out.display(),
            spec.text()
        );
        let result = cmd
            .output()
            .with_context(|| format!("cannot run {shown}; install the Debian package espeak-ng"))?;
        if !result.status.success() {
            bail!(
                "{shown} failed ({}): {}",
                result.status,
                String::from_utf8_lossy(&result.stderr).trim()
            );
        }
        let bytes = std::fs::read(tmp.path())?;
        match wav_info(&bytes) {
            Some(info) if info.frames > 0 => {}
            _ => bail!("{shown} wrote no audio"),
        }
        tmp.persist(out)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", out.display()))?;
        Ok(())
    }
}

/// What a PCM WAV header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WavInfo {
    pub sample_rate: u32,
    pub channels: u16,
    pub bits: u16,
    pub frames: u64,
}

/// Reads a RIFF/WAVE header; `None` unless it is a well-formed PCM file
/// whose data chunk fits in the bytes.
pub fn wav_info(bytes: &[u8]) -> Option<WavInfo> {
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if bytes.get(0..4)? != b"RIFF" || bytes.get(8..12)? != b"WAVE" {
        return None;
    }
    let (mut i, mut fmt) = (12, None);
    while i + 8 <= bytes.len() {
        let id = &bytes[i..i + 4];
        let size = u32_at(i + 4)? as usize;
        if id == b"fmt " {
            fmt = Some((
                u16_at(i + 8)?,
                u16_at(i + 10)?,
                u32_at(i + 12)?,
                u16_at(i + 22)?,
            ));
        } else if id == b"data" {
            let (format, channels, sample_rate, bits) = fmt?;
            if format != 1 || channels == 0 || bits == 0 || i + 8 + size > bytes.len() {
                return None;
            }
            let frame = channels as u64 * bits as u64 / 8;
            return Some(WavInfo {
                sample_rate,
                channels,
                bits,
                frames: size as u64 / frame,
            });
        }
        i += 8 + size + size % 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::by_code;

    #[test]
    fn voice_variant_follows_the_described_speaker() {
        assert!(variant_for(Some("A young woman reading"), |_| 0).starts_with('f'));
        assert!(variant_for(Some("Male anchor on TV"), |n| n - 1).starts_with('m'));
        let any = variant_for(None, |n| n - 1);
        assert!(FEMALE.contains(&any));
    }

    #[test]
    fn missing_espeak_is_a_clear_error() {
        let err = Espeak::new("/no/such/espeak-ng").version().unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("/no/such/espeak-ng --version") && msg.contains("espeak-ng"),
            "{msg}"
        );
    }

    #[test]
    fn wav_header_checks() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend(16u32.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(1u16.to_le_bytes());
        wav.extend(22050u32.to_le_bytes());
        wav.extend(44100u32.to_le_bytes());
        wav.extend(2u16.to_le_bytes());
        wav.extend(16u16.to_le_bytes());
        wav.extend(b"data");
        wav.extend(8u32.to_le_bytes());
        wav.extend([0u8; 8]);
        let info = wav_info(&wav).unwrap();
        assert_eq!((info.sample_rate, info.frames), (22050, 4));
        assert!(wav_info(&wav[..wav.len() - 2]).is_none(), "truncated data");
        assert!(wav_info(b"not a wav").is_none());
    }

    #[test]
    fn espeak_writes_a_wav_in_several_scripts() {
        let espeak = Espeak::default();
        if let Err(e) = espeak.version() {
            eprintln!("skipping: espeak-ng is not installed ({e:#})");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        for code in ["de", "zh", "ja", "ar", "hi"] {
            let lang = by_code(code).unwrap();
            let spec = SpeechSpec {
                lang,
                sentence: 0,
                voice: format!("{}+f2", lang.espeak),
                speed: 160,
                pitch: 50,
            };
            let out = dir.path().join(format!("{code}.wav"));
            espeak.speak(&spec, &out).unwrap();
            let info = wav_info(&std::fs::read(&out).unwrap()).unwrap();
            assert_eq!(info.channels, 1);
            assert!(info.sample_rate >= 8000);
            // A sentence lasts well over half a second.
            assert!(
                info.frames > info.sample_rate as u64 / 2,
                "{code}: {info:?}"
            );
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            5,
            "no temp files left"
        );
        // A failing command is reported with its arguments.
        let spec = SpeechSpec {
            lang: by_code("de").unwrap(),
            sentence: 0,
            voice: "de+m1".into(),
            speed: 160,
            pitch: 50,
        };
        let err = Espeak::new("false")
            .speak(&spec, &dir.path().join("bad.wav"))
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("`false -v de+m1 -s 160"),
            "{err:#}"
        );
        assert!(!dir.path().join("bad.wav").exists());
    }

    #[test]
    fn espeak_has_every_voice_of_the_table() {
        let Ok(voices) = Espeak::default().voices() else {
            eprintln!("skipping: espeak-ng is not installed");
            return;
        };
        assert!(!voices.contains("no-such-voice"));
        for l in crate::lang::LANGUAGES {
            assert!(
                voices.contains(l.espeak),
                "espeak-ng has no voice {} ({})",
                l.espeak,
                l.name
            );
        }
    }
}
