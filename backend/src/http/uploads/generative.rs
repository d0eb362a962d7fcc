//! The chat-model side of checkpoint uploads: which staged uploads are chat models (a single
//! `.gguf` file, a folder whose `config.json` lists a `*ForCausalLM` architecture, or a Qwen2-VL /
//! Qwen2.5-VL folder without a reward head), their
//! check from headers and metadata alone (as `eval checkpoint` would load them), and the
//! generation fields, read as `eval checkpoint`'s flags with the same defaults.

use std::collections::BTreeMap;
use std::path::Path;

use omnireward_local_judge::generation::chat_model::{
    CheckedChatCheckpoint, inspect_generative_checkpoint, is_generative_checkpoint,
};
use omnireward_local_judge::generation::gguf::is_gguf_path;

use super::{ReceivedFile, whole_number};
use crate::evaluation::generative_run::GenerativeDecoding;
use crate::http::ApiError;
use crate::queue::checkpoints::GenerativeChoices;

/// The text fields that apply to chat models only.
pub(super) const GENERATION_FIELDS: [&str; 6] = [
    "max_new_tokens",
    "verdict_attempts",
    "requery_temperature",
    "requery_top_p",
    "seed",
    "swap",
];

/// The text fields that apply to reward models only; a chat model's upload refuses them, as
/// `eval checkpoint` does.
pub(super) const REWARD_MODEL_FIELDS: [&str; 3] = ["max_length", "truncation", "reward_label"];

/// Largest `max_new_tokens` an upload may ask for.
const MAX_NEW_TOKENS: usize = 1 << 15;

/// Most queries per item (the reference asks 5).
const MAX_VERDICT_ATTEMPTS: usize = 10;

/// What a chat model's upload asked for: the generation fields, each defaulting to `eval
/// checkpoint`'s default, checked as its flags are.
pub(super) fn choices<'form>(
    value: impl Fn(&str) -> Option<&'form str>,
) -> Result<GenerativeChoices, ApiError> {
    let defaults = GenerativeDecoding::default();
    let max_new_tokens = value("max_new_tokens")
        .map(|given| whole_number("max_new_tokens", given, MAX_NEW_TOKENS))
        .transpose()?
        .unwrap_or(defaults.max_new_tokens);
    let verdict_attempts = value("verdict_attempts")
        .map(|given| whole_number("verdict_attempts", given, MAX_VERDICT_ATTEMPTS))
        .transpose()?
        .map_or(5, |attempts| attempts as u32);
    let fraction =
        |parameter: &'static str, default: f64, valid: fn(f64) -> bool, expected| match value(
            parameter,
        ) {
            None => Ok(default),
            Some(given) => given
                .parse::<f64>()
                .ok()
                .filter(|number| valid(*number))
                .ok_or_else(|| ApiError::InvalidParameter {
                    parameter,
                    value: given.to_owned(),
                    expected,
                }),
        };
    // NaN fails every comparison: refused with the rest.
    let requery_temperature = fraction(
        "requery_temperature",
        defaults.requery_temperature,
        |number| number.is_finite() && number > 0.0 && number <= 100.0,
        "a number above 0 and at most 100 (re-queries are sampled)".to_owned(),
    )?;
    let requery_top_p = fraction(
        "requery_top_p",
        defaults.requery_top_p,
        |number| number > 0.0 && number <= 1.0,
        "a number in (0, 1]".to_owned(),
    )?;
    let seed = match value("seed") {
        None => defaults.seed,
        Some(given) => given
            .parse::<u64>()
            .map_err(|_| ApiError::InvalidParameter {
                parameter: "seed",
                value: given.to_owned(),
                expected: "a whole number from 0 to 2^64 - 1".to_owned(),
            })?,
    };
    let swap = match value("swap") {
        None | Some("false" | "off" | "0") => false,
        Some("true" | "on" | "1") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter {
                parameter: "swap",
                value: other.to_owned(),
                expected: "true or false".to_owned(),
            });
        }
    };
    Ok(GenerativeChoices {
        decoding: GenerativeDecoding {
            max_new_tokens,
            requery_temperature,
            requery_top_p,
            seed,
        },
        verdict_attempts,
        swap,
    })
}

/// A staged upload that is a chat model, checked: `None` when it is not one (a reward model's
/// folder, checked elsewhere). A `.gguf` file must come alone. Blocking.
pub(super) fn inspect(
    staging: &Path,
    files: &BTreeMap<String, ReceivedFile>,
) -> Result<Option<CheckedChatCheckpoint>, ApiError> {
    let gguf: Vec<&String> = files
        .keys()
        .filter(|name| is_gguf_path(Path::new(name)))
        .collect();
    let path = match gguf.as_slice() {
        [] if is_generative_checkpoint(staging) => staging.to_path_buf(),
        [] => return Ok(None),
        [name] if files.len() == 1 => staging.join(name),
        _ => {
            return Err(ApiError::InvalidInput(format!(
                "a GGUF chat model is one file: send {} alone (this upload has {} files)",
                gguf.iter()
                    .map(|name| format!("{name:?}"))
                    .collect::<Vec<_>>()
                    .join(" or "),
                files.len()
            )));
        }
    };
    inspect_generative_checkpoint(&path)
        .map(Some)
        .map_err(|error| {
            ApiError::InvalidInput(format!(
                "the chat model was refused: {}",
                without_staging_folder(&error.to_string(), staging)
            ))
        })
}

/// The message with the staging folder's path taken out of the file names it holds: clients
/// see their own file names, not the server's folders.
fn without_staging_folder(message: &str, staging: &Path) -> String {
    let mut message = message.to_owned();
    let canonical = staging.canonicalize().ok();
    for folder in canonical.iter().map(|path| path.as_path()).chain([staging]) {
        message = message.replace(&format!("{}/", folder.display()), "");
        message = message.replace(&folder.display().to_string(), ".");
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(fields: &[(&str, &str)]) -> Result<GenerativeChoices, ApiError> {
        let fields: BTreeMap<&str, &str> = fields.iter().copied().collect();
        choices(|name| fields.get(name).copied())
    }

    #[test]
    fn generation_fields_default_as_the_command_line_does() {
        let defaults = parsed(&[]).expect("defaults");
        assert_eq!(defaults.decoding, GenerativeDecoding::default());
        assert_eq!(defaults.verdict_attempts, 5);
        assert!(!defaults.swap);
        let chosen = parsed(&[
            ("max_new_tokens", "64"),
            ("verdict_attempts", "1"),
            ("requery_temperature", "0.5"),
            ("requery_top_p", "1"),
            ("seed", "7"),
            ("swap", "on"),
        ])
        .expect("valid");
        assert_eq!(chosen.decoding.max_new_tokens, 64);
        assert_eq!(chosen.verdict_attempts, 1);
        assert_eq!(chosen.decoding.requery_temperature, 0.5);
        assert_eq!(chosen.decoding.seed, 7);
        assert!(chosen.swap);
        for refused in [
            ("max_new_tokens", "0"),
            ("verdict_attempts", "11"),
            ("requery_temperature", "0"),
            ("requery_temperature", "NaN"),
            ("requery_top_p", "1.5"),
            ("seed", "-1"),
            ("swap", "maybe"),
        ] {
            assert!(parsed(&[refused]).is_err(), "{refused:?}");
        }
    }

    #[test]
    fn staging_folders_are_taken_out_of_messages() {
        let staging = Path::new("/srv/uploads/.incoming-1-2-3");
        assert_eq!(
            without_staging_folder("/srv/uploads/.incoming-1-2-3/model.gguf: missing", staging),
            "model.gguf: missing"
        );
    }
}
