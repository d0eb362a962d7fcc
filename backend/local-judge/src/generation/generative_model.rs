//! [`GenerativeModel`]: whichever chat model a generative checkpoint is, text-only
//! ([`ChatModel`]: a `*ForCausalLM` folder or a GGUF file) or vision-language
//! ([`VisionChatModel`]: a Qwen2-VL / Qwen2.5-VL folder without a reward head), chosen from the
//! files as [`super::chat_model::is_generative_checkpoint`] decides.

use std::path::Path;

use super::chat_model::{ChatModel, ChatModelDescription};
use super::vision_language::{VisionChatModel, is_generative_vision_language_checkpoint};
use crate::device::DeviceChoice;
use crate::error::LocalJudgeError;

/// A loaded generative judge. (Both boxed: each is a few kilobytes of handles, and a model is
/// loaded once.)
pub enum GenerativeModel {
    /// A text chat model: reads the text of a prompt.
    Text(Box<ChatModel>),
    /// A vision-language chat model: reads text, images and videos.
    Vision(Box<VisionChatModel>),
}

impl GenerativeModel {
    /// Loads the checkpoint at `path`: a vision-language folder without a reward head as
    /// [`VisionChatModel`], anything else as [`ChatModel`] (which refuses what it cannot load).
    pub fn load(path: &Path, device: DeviceChoice) -> Result<GenerativeModel, LocalJudgeError> {
        if path.is_dir() && is_generative_vision_language_checkpoint(path) {
            let model = VisionChatModel::load(path, device)?;
            return Ok(GenerativeModel::Vision(Box::new(model)));
        }
        let model = ChatModel::load(path, device)?;
        Ok(GenerativeModel::Text(Box::new(model)))
    }

    /// What the model is.
    pub fn description(&self) -> &ChatModelDescription {
        match self {
            GenerativeModel::Text(model) => model.description(),
            GenerativeModel::Vision(model) => model.description(),
        }
    }

    /// The folder or GGUF file it was loaded from.
    pub fn path(&self) -> &Path {
        match self {
            GenerativeModel::Text(model) => model.path(),
            GenerativeModel::Vision(model) => model.path(),
        }
    }

    /// Whether it reads images and videos.
    pub fn reads_media(&self) -> bool {
        matches!(self, GenerativeModel::Vision(_))
    }
}
