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
use omnireward_local_judge::generation::engine::{Batching, GenerationRequest};
use omnireward_local_judge::generation::sampling::DecodingOptions;
use omnireward_shared::{Label, Order, Response, Sample, Setting, Task, Verdict, parse_verdict};

use super::thread::{LocalScoringError, ModelThread};
use crate::judges::api::prompts::{PromptSet, RenderedPrompt, UserPart};

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

/// A chat model's answer to one pair of text responses.
#[derive(Clone, Debug, PartialEq)]
pub struct PairAnswer {
    /// The verdict the text gives, if any.
    pub verdict: Option<Verdict>,
    /// The judge's text.
    pub text: String,
    /// Tokens of the rendered prompt.
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub generated_tokens: usize,
}

/// Asks `model` which of two text responses is better: the prompt set's T2T prompt of the
/// with-ties setting in the original order, answered greedily in at most `max_new_tokens`
/// tokens (`omnireward score` and the demo). Blocking: call it on the model's thread.
pub fn judge_text_pair(
    model: &ChatModel,
    prompts: &PromptSet,
    criterion: &str,
    prompt: &str,
    responses: [&str; 2],
    max_new_tokens: usize,
) -> Result<PairAnswer, LocalScoringError> {
    let [first, second] = responses;
    let sample = Sample {
        id: "pair".to_owned(),
        task: Task::TextToText,
        prompt: prompt.to_owned(),
        prompt_media: None,
        response1: Response::Text {
            text: first.to_owned(),
        },
        response2: Response::Text {
            text: second.to_owned(),
        },
        criterion: criterion.to_owned(),
        // Not read: rendering needs no label.
        label: Label::Tie,
        model1: None,
        model2: None,
    };
    let rendered = prompts
        .render(&sample, Setting::WithTies, Order::Original)
        .map_err(|error| LocalScoringError::Input {
            task: sample.task,
            sample_id: sample.id.clone(),
            message: error.to_string(),
        })?;
    let prompt_ids = model.prompt(Some(&rendered.system), &text_user_message(&rendered))?;
    let decoding = DecodingOptions {
        max_new_tokens,
        ..DecodingOptions::default()
    };
    let answer = model
        .generate(
            &[GenerationRequest {
                prompt: prompt_ids,
                seed: 0,
            }],
            &decoding,
            Batching::default(),
            &mut |_, _| Ok(()),
        )?
        .into_iter()
        .next()
        .ok_or_else(|| LocalJudgeError::Input {
            message: "the model returned no answer".to_owned(),
        })?;
    Ok(PairAnswer {
        verdict: parse_verdict(&answer.text),
        prompt_tokens: answer.prompt_tokens,
        generated_tokens: answer.tokens.len(),
        text: answer.text,
    })
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
