//! The paper's prompt and target format, tokenised.
//!
//! `### Human: <Img>[media token]</Img> {instruction}\n### Assistant: ` and the
//! target `{'api_name': <id>}\n###`. Text-only requests drop `<Img>...</Img>`.
//! A request that names a modality but carries no media embedding (the
//! released test set ships no media files, and the encoders may be absent)
//! writes the modality word in the media slot: `<Img>image</Img>`, so the model
//! still knows what kind of input is attached.

use anyhow::{Context as _, Result};
use mmtool_data::Modality;
use tokenizers::Tokenizer;

/// A tokenised prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    pub ids: Vec<u32>,
    /// Position of the media soft token (its id in `ids` is a placeholder).
    pub media_slot: Option<usize>,
}

/// Tokenises prompts and targets the same way for training and inference:
/// each text piece separately, then concatenated, so a target's tokens never
/// depend on the prompt before it.
#[derive(Clone)]
pub struct PromptEncoder {
    tokenizer: Tokenizer,
}

impl PromptEncoder {
    pub fn new(tokenizer: Tokenizer) -> Self {
        PromptEncoder { tokenizer }
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self
            .tokenizer
            .encode(text, false)
            .map_err(|e| anyhow::anyhow!("tokenising {text:?}: {e}"))?
            .get_ids()
            .to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| anyhow::anyhow!("decoding tokens: {e}"))
    }

    /// The prompt for an instruction; `with_media` reserves the soft-token slot.
    pub fn prompt(
        &self,
        instruction: &str,
        modality: Modality,
        with_media: bool,
    ) -> Result<Prompt> {
        let instruction = instruction.trim();
        if with_media {
            let mut ids = self.encode("### Human: <Img>")?;
            let slot = ids.len();
            ids.push(0);
            ids.extend(self.encode(&format!("</Img> {instruction}\n### Assistant: "))?);
            return Ok(Prompt {
                ids,
                media_slot: Some(slot),
            });
        }
        let text = match modality {
            Modality::Text => format!("### Human: {instruction}\n### Assistant: "),
            m => format!("### Human: <Img>{m}</Img> {instruction}\n### Assistant: "),
        };
        Ok(Prompt {
            ids: self.encode(&text).context("tokenising the prompt")?,
            media_slot: None,
        })
    }

    /// The target tokens for a tool id, ending with the `\n###` stop.
    pub fn target(&self, tool_id: &str) -> Result<Vec<u32>> {
        self.encode(&target_text(tool_id))
    }
}

/// `{'api_name': <id>}\n###`: the response the paper trains on.
pub fn target_text(tool_id: &str) -> String {
    format!("{}\n###", mmtool_recommend::format_response(tool_id))
}
