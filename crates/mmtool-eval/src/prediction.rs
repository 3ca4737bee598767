//! The predictions file: a JSON list of `{question_id, questions, response}`
//! records as the paper's inference script writes them, plus mmtool's
//! optional `ranked` list.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::EvalError;

/// One answered item of a predictions file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The gold item's `id`. Read from a number or a numeric string (the
    /// paper's script writes either, depending on how the test file was read).
    #[serde(deserialize_with = "de_question_id")]
    pub question_id: u64,
    /// The instruction as the model saw it (kept for reading, not scored).
    #[serde(default)]
    pub questions: String,
    /// The model's raw answer text, e.g. `{'api_name': facebook/m2m100_418M}`.
    pub response: String,
    /// Tools ranked best first, when the backend ranks (used for acc@k).
    /// Absent in files written by the paper's script.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranked: Option<Vec<RankedName>>,
}

/// One entry of a prediction's ranked list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedName {
    pub api_name: String,
    /// The backend's score; scales differ between backends, and eval ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

fn de_question_id<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Value::deserialize(d)?;
    let id = match &v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    id.ok_or_else(|| {
        serde::de::Error::custom(format!(
            "\"question_id\" must be a non-negative integer or a string holding one, found {v}"
        ))
    })
}

/// Reads a predictions file. Every record must have `question_id` and
/// `response`; ids must be unique.
pub fn load_predictions(path: &Path) -> Result<Vec<Prediction>, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_predictions(path, &bytes)
}

/// Parses a predictions file already in memory; `path` is used in errors.
pub fn parse_predictions(path: &Path, bytes: &[u8]) -> Result<Vec<Prediction>, EvalError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(EvalError::Empty {
            path: path.to_path_buf(),
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|source| EvalError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let Value::Array(list) = value else {
        return Err(EvalError::NotAList {
            path: path.to_path_buf(),
        });
    };
    let mut seen: HashMap<u64, usize> = HashMap::with_capacity(list.len());
    let mut out = Vec::with_capacity(list.len());
    for (index, raw) in list.into_iter().enumerate() {
        let record = |problem: String| EvalError::Record {
            path: path.to_path_buf(),
            index,
            problem,
        };
        if !raw.is_object() {
            return Err(record(format!("expected an object, found {raw}")));
        }
        let p: Prediction = serde_json::from_value(raw).map_err(|e| record(e.to_string()))?;
        if let Some(first) = seen.insert(p.question_id, index) {
            return Err(EvalError::DuplicateId {
                file: path.display().to_string(),
                id: p.question_id,
                first,
                second: index,
            });
        }
        out.push(p);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Prediction>, EvalError> {
        parse_predictions(Path::new("p.json"), s.as_bytes())
    }

    #[test]
    fn reads_the_papers_format_with_numeric_or_string_ids() {
        let ps = parse(
            r#"[{"question_id": 3, "questions": "q", "response": "{'api_name': t5-base}"},
                {"question_id": " 4 ", "questions": "r", "response": "x",
                 "ranked": [{"api_name": "a/b", "score": 1.5}, {"api_name": "c"}]}]"#,
        )
        .unwrap();
        assert_eq!(ps[0].question_id, 3);
        assert_eq!(ps[0].ranked, None);
        assert_eq!(ps[1].question_id, 4);
        let ranked = ps[1].ranked.as_ref().unwrap();
        assert_eq!(ranked[0].score, Some(1.5));
        assert_eq!(ranked[1].api_name, "c");
        assert_eq!(ranked[1].score, None);
    }

    #[test]
    fn serialises_and_reads_back() {
        let p = Prediction {
            question_id: 9,
            questions: "translate".into(),
            response: "{'api_name': t5-base}".into(),
            ranked: Some(vec![RankedName {
                api_name: "t5-base".into(),
                score: Some(2.0),
            }]),
        };
        let text = serde_json::to_string(&vec![p.clone()]).unwrap();
        assert!(text.contains("\"question_id\":9"), "{text}");
        assert_eq!(parse(&text).unwrap(), vec![p]);
    }

    #[test]
    fn errors_name_file_record_and_problem() {
        let cases = [
            ("  ", "p.json: the file is empty"),
            ("[{", "p.json: malformed JSON"),
            (r#"{"question_id": 1}"#, "p.json: expected a JSON list"),
            ("[7]", "p.json: record #0: expected an object"),
            (
                r#"[{"questions": "q", "response": "r"}]"#,
                "missing field `question_id`",
            ),
            (
                r#"[{"question_id": 1}]"#,
                "p.json: record #0: missing field `response`",
            ),
            (
                r#"[{"question_id": "one", "response": "r"}]"#,
                "non-negative integer",
            ),
            (
                r#"[{"question_id": -2, "response": "r"}]"#,
                "non-negative integer",
            ),
            (r#"[{"question_id": 1, "response": 5}]"#, "invalid type"),
            (
                r#"[{"question_id": 1, "response": "r", "ranked": [{"score": 1}]}]"#,
                "missing field `api_name`",
            ),
        ];
        for (input, want) in cases {
            let msg = parse(input).unwrap_err().to_string();
            assert!(msg.contains(want), "{input} -> {msg}");
        }
    }

    #[test]
    fn repeated_ids_are_rejected_even_across_number_and_string() {
        let msg = parse(
            r#"[{"question_id": 1, "response": "a"}, {"question_id": 2, "response": "b"},
                {"question_id": "1", "response": "c"}]"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            msg.contains("p.json")
                && msg.contains("id 1")
                && msg.contains("#0")
                && msg.contains("#2"),
            "{msg}"
        );
    }

    #[test]
    fn missing_file_names_the_path() {
        let msg = load_predictions(Path::new("/no/such/p.json"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/no/such/p.json"), "{msg}");
    }
}
