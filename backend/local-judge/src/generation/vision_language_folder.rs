//! Which folders are vision-language checkpoints, decided from `config.json` and the weight
//! headers before anything loads. Apart from [`super::vision_language`] so that
//! [`super::chat_model`] can route such folders without importing the model code that imports
//! it.

use std::path::Path;

use serde_json::Value;

use crate::checkpoint::{CONFIG_FILE, CheckpointFolder};
use crate::models::layers::read_json_file;

/// The architectures this module generates with.
pub const VISION_LANGUAGE_ARCHITECTURES: [&str; 2] = [
    "Qwen2VLForConditionalGeneration",
    "Qwen2_5_VLForConditionalGeneration",
];

/// Whether `folder` is a generative vision-language judge: its configuration names a Qwen2-VL or
/// Qwen2.5-VL generating architecture and its weights hold no reward head (a folder with one is
/// a reward model, scored by [`crate::conversation::ConversationScorer`]). Decided from
/// `config.json` and the safetensors headers, before anything loads.
pub fn is_generative_vision_language_checkpoint(folder: &Path) -> bool {
    // `config.json` first: the headers are read only for vision-language folders.
    is_vision_language_checkpoint(folder)
        && CheckpointFolder::inspect(folder).is_ok_and(|checkpoint| !checkpoint.has_reward_head())
}

/// Whether `folder`'s `config.json` names a Qwen2-VL or Qwen2.5-VL generating architecture.
/// Decided from `config.json` only (its top level, or `text_config`, where transformers 4.57
/// writes them for these models), before anything loads.
pub fn is_vision_language_checkpoint(folder: &Path) -> bool {
    let Ok(Some(config)) = read_json_file(folder, CONFIG_FILE) else {
        return false;
    };
    let listed = |section: &Value| {
        section
            .get("architectures")
            .and_then(Value::as_array)
            .cloned()
    };
    listed(&config)
        .filter(|names| !names.is_empty())
        .or_else(|| config.get("text_config").and_then(listed))
        .is_some_and(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .any(|name| VISION_LANGUAGE_ARCHITECTURES.contains(&name))
        })
}
