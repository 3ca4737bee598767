//! The language of text a request quotes ("my colleague wrote 'Olen
//! lomalla ensi viikon.'"), which settles what the words around it leave
//! open: the Finnish-to-English translator, not the Swedish one; the
//! Italian sentiment model, not the English one. A sentence encoder trained
//! on English hardly tells Finnish from Estonian, so the request's own
//! wording cannot carry this; a character-trigram detector (`whatlang`) can.
//!
//! Only quoted text is read: the words around a quote say what to do with
//! it, and an English request about a Chinese article it does not include
//! says nothing about the article's language.

/// What [`detect_quoted`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected {
    /// ISO 639-1 code, the form tool cards use (`fi`, `zh`).
    pub code: String,
    /// The detector's confidence in [0, 1]; short quotes get little.
    pub confidence: f32,
}

impl Detected {
    /// The language's English name (`Finnish`).
    pub fn name(&self) -> Option<&'static str> {
        Some(isolang::Language::from_639_1(&self.code)?.to_name())
    }
}

/// The spans of `text` between matching quotes. An apostrophe inside a word
/// (`I'm`, `dogs'`) neither opens nor closes a span, so contractions around
/// or inside a quote do not cut it.
pub fn quoted_spans(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let letter = |i: Option<&(usize, char)>| i.is_some_and(|(_, c)| c.is_alphanumeric());
    // Closing marks with no closing place left after some opener: none after
    // any later opener either, so they are not searched for again (keeps a
    // request full of stray quotes linear).
    let mut unclosable: Vec<char> = Vec::new();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        let close = match c {
            '\'' | '"' | '`' => c,
            '\u{2018}' => '\u{2019}',
            '\u{201C}' => '\u{201D}',
            '\u{00AB}' => '\u{00BB}',
            '\u{300C}' => '\u{300D}',
            '\u{300E}' => '\u{300F}',
            _ => {
                i += 1;
                continue;
            }
        };
        // A straight quote opens only where a word cannot be going on.
        let straight = c == close;
        if unclosable.contains(&close) || (straight && i > 0 && letter(chars.get(i - 1))) {
            i += 1;
            continue;
        }
        let body = start + c.len_utf8();
        let end = (i + 1..chars.len()).find(|&j| {
            chars[j].1 == close && !(straight && j + 1 < chars.len() && letter(chars.get(j + 1)))
        });
        match end {
            Some(j) => {
                let s = text[body..chars[j].0].trim();
                if !s.is_empty() {
                    spans.push(s);
                }
                i = j + 1;
            }
            None => {
                unclosable.push(close);
                i += 1;
            }
        }
    }
    spans
}

/// The language of the text `text` quotes, when it quotes any with at least
/// a few letters (a one-word quote is too short to call).
pub fn detect_quoted(text: &str) -> Option<Detected> {
    let quoted = quoted_spans(text).join(" ");
    if quoted.chars().filter(|c| c.is_alphabetic()).count() < 8 {
        return None;
    }
    let info = whatlang::detect(&quoted)?;
    Some(Detected {
        code: iso_639_1(info.lang())?.to_string(),
        confidence: info.confidence() as f32,
    })
}

/// whatlang names languages by ISO 639-3; cards use 639-1. Mandarin and
/// Western Persian are individual languages whose 639-1 code belongs to the
/// macrolanguage, so `isolang` has no direct mapping for them.
fn iso_639_1(lang: whatlang::Lang) -> Option<&'static str> {
    match lang {
        whatlang::Lang::Cmn => Some("zh"),
        whatlang::Lang::Pes => Some("fa"),
        l => isolang::Language::from_639_3(l.code())?.to_639_1(),
    }
}

/// How well a tool whose card lists `languages` fits text in `detected`:
/// the detector's confidence when the card lists the language, else 0.
/// Only a reward: on the training dev split, also pushing down the tools
/// that list other languages did worse (docs/retrieval.md, session 9), as a
/// card's language list is often incomplete and short quotes get misread.
pub fn language_fit(languages: &[String], detected: &Detected) -> f32 {
    if languages.iter().any(|l| l.trim() == detected.code) {
        detected.confidence
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_survive_apostrophes_inside_words() {
        assert_eq!(
            quoted_spans("I'm lost: 'Kiitos kun autoit muutossa!' what's that?"),
            ["Kiitos kun autoit muutossa!"]
        );
        assert_eq!(
            quoted_spans("She said \u{201C}Bonjour à tous\u{201D} and \"Ça va?\""),
            ["Bonjour à tous", "Ça va?"]
        );
        assert_eq!(
            quoted_spans("my dogs' toys don't squeak"),
            Vec::<&str>::new()
        );
        assert_eq!(quoted_spans("an 'unclosed quote"), Vec::<&str>::new());
        assert_eq!(
            quoted_spans("it says 'I don't know' here"),
            ["I don't know"]
        );
        assert_eq!(
            quoted_spans("「愛は常に我々の心の中で」"),
            ["愛は常に我々の心の中で"]
        );
        assert_eq!(quoted_spans("'a' then 'b"), ["a"]);
    }

    #[test]
    fn a_request_full_of_stray_quotes_is_read_in_linear_time() {
        // 200,000 openers and no closer: quadratic scanning would take minutes.
        let text = " 'x".repeat(200_000);
        let t = std::time::Instant::now();
        assert!(quoted_spans(&text).is_empty());
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn quoted_text_is_detected_and_mapped_to_card_codes() {
        let d = detect_quoted("My coworker wrote 'Olen lomalla ensi viikon, palataan asiaan.'")
            .unwrap();
        assert_eq!(d.code, "fi");
        assert!(d.confidence > 0.0 && d.confidence <= 1.0, "{d:?}");
        let d = detect_quoted("A poster says '我们明天早上九点在学校门口见面'").unwrap();
        assert_eq!(d.code, "zh");
        assert_eq!(d.name(), Some("Chinese"));
        assert_eq!(
            detect_quoted("Translate 'Kippis!' please"),
            None,
            "too short"
        );
        assert_eq!(detect_quoted("Summarize this Chinese article for me"), None);
    }

    #[test]
    fn fit_rewards_only_tools_that_list_the_language() {
        let d = Detected {
            code: "fi".into(),
            confidence: 0.8,
        };
        let langs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(language_fit(&langs(&["fi", "en"]), &d), 0.8);
        assert_eq!(language_fit(&langs(&["sv", "en"]), &d), 0.0);
        assert_eq!(language_fit(&[], &d), 0.0);
    }
}
