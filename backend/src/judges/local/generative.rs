//! Local chat models (a `*ForCausalLM` folder or a GGUF file) as generative judges: the thread
//! the model lives on, and what a text chat model reads of a rendered judge prompt.
//!
//! The prompts are the API judges' ([`crate::judges::api::prompts`]), rendered through the
//! checkpoint's own chat template. A text model reads the text parts of the user message; media
//! slots are left out, which is what "judged on the prompt's text only" means for TI2T, TV2T and
//! TA2T ([`super::coverage`]). Tasks whose responses are media are not covered.

use std::path::{Path, PathBuf};

use omnireward_local_judge::LocalJudgeError;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::generation::chat_model::{ChatModel, ChatModelDescription};

use super::thread::{LocalScoringError, ModelThread};
use crate::judges::api::prompts::{RenderedPrompt, UserPart};

/// A loaded chat model on its own thread.
pub struct GenerativeThread {
    thread: ModelThread<ChatModel>,
    description: ChatModelDescription,
    path: PathBuf,
}

impl GenerativeThread {
    /// Starts the thread and loads the model on it; returns once it is loaded (or failed to).
    /// Blocking.
    pub fn start(path: PathBuf, device: DeviceChoice) -> Result<GenerativeThread, LocalJudgeError> {
        let (thread, (description, path)) = ModelThread::start("generative-judge", move || {
            let model = ChatModel::load(&path, device)?;
            let report = (model.description().clone(), model.path().to_path_buf());
            Ok((model, report))
        })?;
        Ok(GenerativeThread {
            thread,
            description,
            path,
        })
    }

    /// What the loaded model is.
    pub fn description(&self) -> &ChatModelDescription {
        &self.description
    }

    /// The folder (canonicalized) or GGUF file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the model's thread and awaits its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&ChatModel) -> Result<T, LocalScoringError> + Send + 'static,
    {
        self.thread.run(work).await
    }

    /// Runs `work` on the model's thread and blocks until it is done.
    pub fn run_blocking<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&ChatModel) -> Result<T, LocalScoringError> + Send + 'static,
    {
        self.thread.run_blocking(work)
    }
}

/// The user message a text chat model reads: the text parts joined, media slots left out.
pub fn text_user_message(rendered: &RenderedPrompt) -> String {
    rendered
        .user
        .iter()
        .filter_map(|part| match part {
            UserPart::Text(text) => Some(text.as_str()),
            UserPart::Media(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judges::api::prompts::MediaSlot;

    #[test]
    fn media_slots_are_left_out_of_the_text() {
        let rendered = RenderedPrompt {
            system: "judge".to_owned(),
            user: vec![
                UserPart::Text("Look: ".to_owned()),
                UserPart::Media(MediaSlot::PromptMedia),
                UserPart::Text("A or B?".to_owned()),
            ],
        };
        assert_eq!(text_user_message(&rendered), "Look: A or B?");
    }
}
