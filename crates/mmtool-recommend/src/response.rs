//! The paper's answer format: `{'api_name': <hub id>}`, optionally followed
//! by the `\n###` stop marker.

/// Formats an answer the way the paper's model is trained to write it.
pub fn format_response(id: &str) -> String {
    format!("{{'api_name': {id}}}")
}

/// Extracts the tool id from a response. Accepts the id quoted with `'` or
/// `"` or bare, whitespace around it, a trailing `###`, and extra keys after
/// it. Returns `None` when there is no `api_name` or its value is empty.
pub fn parse_response(text: &str) -> Option<String> {
    let start = text.find("api_name")?;
    let mut rest = &text[start + "api_name".len()..];
    rest = rest.trim_start_matches(['\'', '"']).trim_start();
    rest = rest.strip_prefix(':')?.trim_start();
    let value = if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let inner = &rest[1..];
        &inner[..inner.find(q)?]
    } else {
        let end = rest.find([',', '}', '\n']).unwrap_or(rest.len());
        &rest[..end]
    };
    let value = value.trim().trim_end_matches("###").trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        None
    } else {
        Some(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_the_paper_writes() {
        let cases = [
            (
                "{'api_name': facebook/m2m100_418M}",
                Some("facebook/m2m100_418M"),
            ),
            (
                "{'api_name': 'facebook/m2m100_418M'}\n###",
                Some("facebook/m2m100_418M"),
            ),
            ("{\"api_name\": \"t5-base\"}", Some("t5-base")),
            ("  {'api_name':  t5-base  }###", Some("t5-base")),
            ("{'api_name': t5-base, 'x': 1}", Some("t5-base")),
            ("{'api_name': }", None),
            ("I would use t5-base", None),
            ("{'api_name': 'unterminated}", None),
            ("{'api_name': two words}", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_response(text).as_deref(), want, "{text:?}");
        }
    }

    #[test]
    fn format_then_parse_round_trips() {
        for id in ["unknown", "openai/whisper-base", "t5-base"] {
            assert_eq!(parse_response(&format_response(id)).as_deref(), Some(id));
        }
    }
}
