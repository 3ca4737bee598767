use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};

use crate::{DataError, Modality};

/// One ToolMMBench instruction with its answer set, normalised.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Item {
    /// Unique within a file (the test set's `id` is its 1-based position).
    pub id: u64,
    /// The id as released, where it differs (test set only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<u64>,
    /// The user's request, trimmed.
    pub instruction: String,
    pub modality: Modality,
    /// Path of the attached file as given in the data (relative to the
    /// release's media root); `None` for text-only items or synthetic items.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_path: Option<String>,
    /// What the attached file shows (synthetic training items only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_description: Option<String>,
    /// Tool ids that count as right, trimmed; never empty.
    pub answers: Vec<String>,
    /// Ambiguity code: -1 none, 1 data domain, 2 label set, 3 image quality,
    /// 4 input condition, 5 other.
    pub ambiguity: i32,
    /// Whether several tools are right (released flag; falls back to
    /// `answers.len() > 1`).
    pub one_to_many: bool,
}

/// How strictly to read a file.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Reject files in which two items share an id. The released test file
    /// repeats ids across modalities; matching by such ids silently pairs the
    /// wrong items, so this is on by default.
    pub unique_ids: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { unique_ids: true }
    }
}

/// Reads a ToolMMBench JSON file.
pub fn load_items(path: &Path, opts: LoadOptions) -> Result<Vec<Item>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_items(path, &bytes, opts)
}

/// Parses ToolMMBench JSON already in memory; `path` is used in errors.
pub fn parse_items(path: &Path, bytes: &[u8], opts: LoadOptions) -> Result<Vec<Item>, DataError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
        });
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|source| DataError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let list = match value {
        Value::Array(list) => list,
        other => {
            return Err(DataError::NotAList {
                path: path.to_path_buf(),
                found: json_kind(&other),
            })
        }
    };
    let mut seen: HashMap<u64, usize> = HashMap::new();
    let mut items = Vec::with_capacity(list.len());
    for (index, raw) in list.iter().enumerate() {
        let err = |id: Option<u64>, problem: String| DataError::Item {
            path: path.to_path_buf(),
            index,
            id,
            problem,
        };
        let obj = raw.as_object().ok_or_else(|| {
            err(
                None,
                format!("expected an object, found {}", json_kind(raw)),
            )
        })?;
        let item = parse_item(obj).map_err(|(id, problem)| err(id, problem))?;
        if opts.unique_ids {
            if let Some(first) = seen.insert(item.id, index) {
                return Err(err(
                    Some(item.id),
                    format!(
                        "id {} repeats item #{first}; ids must be unique within a file",
                        item.id
                    ),
                ));
            }
        }
        items.push(item);
    }
    Ok(items)
}

type ItemErr = (Option<u64>, String);

fn parse_item(obj: &Map<String, Value>) -> Result<Item, ItemErr> {
    let id = match obj.get("id") {
        Some(v) => as_u64(v).ok_or((
            None,
            format!("field \"id\" must be a non-negative integer, found {v}"),
        ))?,
        None => return Err((None, "missing field \"id\"".into())),
    };
    let e = |problem: String| (Some(id), problem);
    let source_id = match obj.get("source_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            as_u64(v)
                .ok_or_else(|| e(format!("field \"source_id\" must be an integer, found {v}")))?,
        ),
    };
    let modality_raw = obj
        .get("input_modality")
        .and_then(Value::as_str)
        .ok_or_else(|| e("missing or non-string field \"input_modality\"".into()))?;
    let modality: Modality = modality_raw.parse().map_err(|m: String| e(m))?;

    let convs = obj
        .get("conversations")
        .and_then(Value::as_array)
        .ok_or_else(|| e("missing field \"conversations\" (a list of two turns)".into()))?;
    let human = convs
        .iter()
        .find(|t| t.get("from").and_then(Value::as_str) == Some("human"))
        .ok_or_else(|| e("\"conversations\" has no turn from \"human\"".into()))?;
    let gpt = convs
        .iter()
        .find(|t| t.get("from").and_then(Value::as_str) == Some("gpt"))
        .ok_or_else(|| e("\"conversations\" has no turn from \"gpt\" (the answer)".into()))?;
    let instruction = human
        .get("value")
        .and_then(Value::as_str)
        .map(str::trim)
        .ok_or_else(|| e("the human turn's \"value\" must be a string".into()))?;
    if instruction.is_empty() {
        return Err(e("the instruction is empty".into()));
    }
    let answers = parse_answers(gpt.get("value")).map_err(e)?;

    let ambiguity = match obj.get("ambiguity").or_else(|| gpt.get("ambiguity")) {
        None | Some(Value::Null) => -1,
        Some(v) => parse_ambiguity(v).map_err(e)?,
    };
    let one_to_many = obj
        .get("onetomulti")
        .and_then(Value::as_bool)
        .unwrap_or(answers.len() > 1);

    let path_key = match modality {
        Modality::Text => None,
        Modality::Image => Some("image_path"),
        Modality::Audio => Some("audio_path"),
        Modality::Video => Some("video_path"),
    };
    let media_path = path_key
        .and_then(|k| obj.get(k))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);
    let media_description = obj
        .get("media_description")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from);

    Ok(Item {
        id,
        source_id,
        instruction: instruction.to_string(),
        modality,
        media_path,
        media_description,
        answers,
        ambiguity,
        one_to_many,
    })
}

fn parse_answers(v: Option<&Value>) -> Result<Vec<String>, String> {
    let clean = |s: &str| -> Result<String, String> {
        let t = s.trim();
        if t.is_empty() {
            Err("an answer id is empty".into())
        } else {
            Ok(t.to_string())
        }
    };
    let mut out: Vec<String> = match v {
        Some(Value::String(s)) => vec![clean(s)?],
        Some(Value::Array(list)) => list
            .iter()
            .map(|x| match x {
                Value::String(s) => clean(s),
                other => Err(format!(
                    "answer list holds a {}, expected strings",
                    json_kind(other)
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!(
                "the answer (gpt turn \"value\") must be a string or a list of strings, found {}",
                json_kind(other)
            ))
        }
        None => return Err("the gpt turn has no \"value\" (the answer)".into()),
    };
    if out.is_empty() {
        return Err("the answer list is empty".into());
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|a| seen.insert(a.clone()));
    Ok(out)
}

fn parse_ambiguity(v: &Value) -> Result<i32, String> {
    let n = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    match n {
        Some(n @ -1..=5) => Ok(n as i32),
        _ => Err(format!(
            "\"ambiguity\" must be -1 or 0-5 (integer or string), found {v}"
        )),
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<Item>, DataError> {
        parse_items(Path::new("x.json"), s.as_bytes(), LoadOptions::default())
    }

    const TRAIN: &str = r#"[{"id": 7, "image_path": "", "audio_path": "a/b.wav", "video_path": "",
        "input_modality": "audio", "output_modality": "text",
        "conversations": [{"from": "human", "value": "  What is said?  ", "input_modality": "audio"},
                          {"from": "gpt", "value": " t5-base", "ambiguity": -1, "output_modality": "text"}]}]"#;

    #[test]
    fn reads_training_item_and_normalises_whitespace() {
        let items = parse(TRAIN).unwrap();
        assert_eq!(items.len(), 1);
        let it = &items[0];
        assert_eq!(it.id, 7);
        assert_eq!(it.instruction, "What is said?");
        assert_eq!(it.answers, vec!["t5-base"]);
        assert_eq!(it.modality, Modality::Audio);
        assert_eq!(it.media_path.as_deref(), Some("a/b.wav"));
        assert_eq!(it.ambiguity, -1);
        assert!(!it.one_to_many);
    }

    #[test]
    fn reads_test_item_with_list_string_ambiguity_and_extra_fields() {
        let s = r#"[{"id": 3, "source_id": 1, "image_path": "", "video_path": "", "audio_path": "",
          "input_modality": "text", "output_modality": "text", "modality": "text",
          "conversations": [{"from": "human", "value": "Translate"},
                            {"from": "gpt", "value": ["a/b", " c/d ", "a/b"], "ambiguity": -1}],
          "ifambiguity": true, "onetomulti": true, "ambiguity": "4"}]"#;
        let it = &parse(s).unwrap()[0];
        assert_eq!(it.answers, vec!["a/b", "c/d"]);
        assert_eq!(it.ambiguity, 4);
        assert_eq!(it.source_id, Some(1));
        assert!(it.one_to_many);
        assert_eq!(it.media_path, None);
    }

    #[test]
    fn errors_name_file_item_and_problem() {
        let cases = [
            ("", "empty"),
            ("{not json", "malformed JSON"),
            ("{}", "expected a JSON list"),
            ("[3]", "item #0: expected an object"),
            (r#"[{"input_modality": "text"}]"#, "missing field \"id\""),
            (
                r#"[{"id": 1, "input_modality": "smell", "conversations": []}]"#,
                "unknown modality",
            ),
            (r#"[{"id": 1, "input_modality": "text"}]"#, "conversations"),
            (
                r#"[{"id": 2, "input_modality": "text", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": []}]}]"#,
                "answer list is empty",
            ),
            (
                r#"[{"id": 2, "input_modality": "text", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": 5}]}]"#,
                "string or a list",
            ),
            (
                r#"[{"id": 2, "input_modality": "text", "ambiguity": "high", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "a"}]}]"#,
                "ambiguity",
            ),
            (
                r#"[{"id": 2, "input_modality": "text", "conversations": [{"from": "human", "value": "  "}, {"from": "gpt", "value": "a"}]}]"#,
                "instruction is empty",
            ),
        ];
        for (input, want) in cases {
            let msg = parse(input).unwrap_err().to_string();
            assert!(msg.starts_with("x.json"), "{msg}");
            assert!(msg.contains(want), "{input} -> {msg}");
        }
    }

    #[test]
    fn repeated_ids_are_rejected_unless_allowed() {
        let one = r#"{"id": 1, "input_modality": "text", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "a"}]}"#;
        let two = format!("[{one},{one}]");
        let msg = parse(&two).unwrap_err().to_string();
        assert!(
            msg.contains("item #1 (id 1)") && msg.contains("repeats item #0"),
            "{msg}"
        );
        let ok = parse_items(
            Path::new("x"),
            two.as_bytes(),
            LoadOptions { unique_ids: false },
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
    }

    #[test]
    fn missing_file_names_the_path() {
        let msg = load_items(Path::new("/no/such/file.json"), LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/no/such/file.json"), "{msg}");
    }
}
