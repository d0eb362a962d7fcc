//! Turning a criterion, a prompt and one response into token ids, the same way for scoring,
//! demos and training.
//!
//! Encoders read one sequence, `criterion SEP prompt SEP response`, joined with the tokenizer's
//! separator token (configurable) and wrapped in the tokenizer's own special tokens. Decoders read
//! the checkpoint's chat template rendered over `[system: criterion, user: prompt, assistant:
//! response]`, tokenized without adding special tokens (the template already has them), which is
//! what `transformers`' `apply_chat_template` does. Truncation side and maximum length are
//! explicit and recorded in runs.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::chat_template::ChatTemplate;
use crate::error::LocalJudgeError;

/// What one response is scored on.
#[derive(Clone, Copy, Debug)]
pub struct ScoringText<'a> {
    /// The free-form evaluation criterion of the sample.
    pub criterion: &'a str,
    /// The user's prompt (text only: media the model cannot see is left out by the caller).
    pub prompt: &'a str,
    /// The response text.
    pub response: &'a str,
}

/// Which end of a too-long input is cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TruncationSide {
    /// Keep the beginning, cut the end (the `transformers` default).
    #[default]
    Right,
    /// Keep the end, cut the beginning; keeps the response when prompts are long.
    Left,
}

impl std::str::FromStr for TruncationSide {
    type Err = String;

    fn from_str(given: &str) -> Result<Self, Self::Err> {
        match given {
            "right" => Ok(TruncationSide::Right),
            "left" => Ok(TruncationSide::Left),
            other => Err(format!("truncation side {other:?}: expected left or right")),
        }
    }
}

/// How the three texts become one model input.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InputFormat {
    /// `criterion SEP prompt SEP response` with special tokens added by the tokenizer.
    Joined {
        /// The separator placed between the parts, spaces included.
        separator: String,
    },
    /// The checkpoint's chat template over system, user and assistant turns.
    ChatTemplate {
        /// SHA-256 of the template text, for run records.
        template_sha256: String,
        #[serde(skip)]
        /// The compiled template.
        template: ChatTemplate,
    },
}

/// A tokenizer with the input format and truncation of one judge.
#[derive(Clone)]
pub struct TextEncoder {
    tokenizer: Tokenizer,
    format: InputFormat,
    max_length: usize,
    truncation: TruncationSide,
    pad_id: u32,
}

/// One tokenized input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedText {
    /// Token ids, special tokens included.
    pub ids: Vec<u32>,
    /// Segment ids (zeros for every family used here, kept for BERT's `token_type_ids`).
    pub type_ids: Vec<u32>,
}

impl EncodedText {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

impl TextEncoder {
    /// Reads `tokenizer.json`, drops any padding or truncation it carries (the MiniLM package's
    /// pads everything to 128) and sets ours.
    pub fn new(
        tokenizer_file: &Path,
        format: InputFormat,
        max_length: usize,
        truncation: TruncationSide,
        pad_id: u32,
    ) -> Result<TextEncoder, LocalJudgeError> {
        let tokenizer_error = |message: String| LocalJudgeError::Tokenizer {
            file: tokenizer_file.to_path_buf(),
            message,
        };
        if max_length == 0 {
            return Err(tokenizer_error("max length must be at least 1".to_owned()));
        }
        let mut tokenizer = Tokenizer::from_file(tokenizer_file)
            .map_err(|error| tokenizer_error(error.to_string()))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: match truncation {
                    TruncationSide::Right => TruncationDirection::Right,
                    TruncationSide::Left => TruncationDirection::Left,
                },
                max_length,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|error| tokenizer_error(error.to_string()))?;
        Ok(TextEncoder {
            tokenizer,
            format,
            max_length,
            truncation,
            pad_id,
        })
    }

    /// The text a response is scored on, before tokenization.
    pub fn format(&self, text: &ScoringText<'_>) -> Result<String, LocalJudgeError> {
        match &self.format {
            InputFormat::Joined { separator } => Ok(format!(
                "{}{separator}{}{separator}{}",
                text.criterion, text.prompt, text.response
            )),
            InputFormat::ChatTemplate { template, .. } => {
                template.render(text.criterion, text.prompt, text.response)
            }
        }
    }

    /// Formats and tokenizes one input, truncated to the maximum length.
    pub fn encode(&self, text: &ScoringText<'_>) -> Result<EncodedText, LocalJudgeError> {
        let formatted = self.format(text)?;
        self.encode_formatted(&formatted)
    }

    /// Tokenizes text that is already formatted (embedding inputs, demos).
    pub fn encode_formatted(&self, formatted: &str) -> Result<EncodedText, LocalJudgeError> {
        // Chat templates carry their own special tokens; joined inputs get the tokenizer's.
        let add_special_tokens = matches!(self.format, InputFormat::Joined { .. });
        let encoding = self
            .tokenizer
            .encode(formatted, add_special_tokens)
            .map_err(|error| LocalJudgeError::Input {
                message: format!("tokenizing failed: {error}"),
            })?;
        if encoding.get_ids().is_empty() {
            return Err(LocalJudgeError::Input {
                message: "the input has no tokens".to_owned(),
            });
        }
        Ok(EncodedText {
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        })
    }

    /// The input format.
    pub fn input_format(&self) -> &InputFormat {
        &self.format
    }

    /// The maximum number of tokens per input.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Which end is cut.
    pub fn truncation(&self) -> TruncationSide {
        self.truncation
    }

    /// The id used to pad batches.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The underlying tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }
}

/// The options of `tokenizer_config.json` that input formatting uses.
#[derive(Clone, Debug, Default)]
pub struct TokenizerConfig {
    /// The file, for error messages.
    pub file: Option<PathBuf>,
    /// `sep_token`.
    pub sep_token: Option<String>,
    /// `pad_token`.
    pub pad_token: Option<String>,
    /// `bos_token`.
    pub bos_token: Option<String>,
    /// `eos_token`.
    pub eos_token: Option<String>,
    /// `chat_template` (a string; the named-templates list form uses its `default` entry).
    pub chat_template: Option<String>,
    /// `model_max_length`, when it is a real limit (`transformers` writes 1e30 for "none").
    pub model_max_length: Option<usize>,
}

impl TokenizerConfig {
    /// Reads the fields from a parsed `tokenizer_config.json`. Special tokens may be strings or
    /// `{"content": …}` objects.
    pub fn from_json(file: &Path, json: &Value) -> TokenizerConfig {
        let token = |name: &str| match json.get(name) {
            Some(Value::String(content)) => Some(content.clone()),
            Some(Value::Object(fields)) => fields
                .get("content")
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        let chat_template = match json.get("chat_template") {
            Some(Value::String(template)) => Some(template.clone()),
            Some(Value::Array(named)) => named
                .iter()
                .find(|entry| entry.get("name").and_then(Value::as_str) == Some("default"))
                .and_then(|entry| entry.get("template"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            _ => None,
        };
        let model_max_length = json
            .get("model_max_length")
            .and_then(Value::as_f64)
            .filter(|length| *length >= 1.0 && *length < 1e9)
            .map(|length| length as usize);
        TokenizerConfig {
            file: Some(file.to_path_buf()),
            sep_token: token("sep_token"),
            pad_token: token("pad_token"),
            bos_token: token("bos_token"),
            eos_token: token("eos_token"),
            chat_template,
            model_max_length,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tokenizer_config_reads_strings_objects_and_named_templates() {
        let config = TokenizerConfig::from_json(
            Path::new("tokenizer_config.json"),
            &json!({
                "sep_token": "[SEP]",
                "pad_token": {"content": "<pad>", "lstrip": false},
                "chat_template": [{"name": "tool_use", "template": "x"}, {"name": "default", "template": "y"}],
                "model_max_length": 1e30,
            }),
        );
        assert_eq!(config.sep_token.as_deref(), Some("[SEP]"));
        assert_eq!(config.pad_token.as_deref(), Some("<pad>"));
        assert_eq!(config.chat_template.as_deref(), Some("y"));
        assert_eq!(config.model_max_length, None);
    }

    #[test]
    fn truncation_sides_parse() {
        assert_eq!("left".parse::<TruncationSide>(), Ok(TruncationSide::Left));
        assert!("middle".parse::<TruncationSide>().is_err());
    }
}
