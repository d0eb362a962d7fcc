//! Local chat models as generative judges: the thread the model lives on, and what a model reads
//! of a rendered judge prompt.
//!
//! The prompts are the API judges' ([`crate::judges::api::prompts`]), rendered through the
//! checkpoint's own chat template. A text chat model (a `*ForCausalLM` folder or a GGUF file)
//! reads the text parts of the user message; media slots are left out, which is what "judged on
//! the prompt's text only" means for TI2T, TV2T and TA2T ([`super::coverage`]), and tasks whose
//! responses are media are not covered. A vision-language chat model (a Qwen2-VL / Qwen2.5-VL
//! folder without a reward head) reads the slots filled with the sample's images and video
//! frames ([`super::vision_prompt`]).

use std::path::{Path, PathBuf};

use image::DynamicImage;
use omnireward_local_judge::LocalJudgeError;
use omnireward_local_judge::device::DeviceChoice;
use omnireward_local_judge::generation::chat_model::ChatModelDescription;
use omnireward_local_judge::generation::engine::{Batching, Generated, GenerationRequest};
use omnireward_local_judge::generation::generative_model::GenerativeModel;
use omnireward_local_judge::generation::sampling::DecodingOptions;
use omnireward_local_judge::generation::vision_language::VisualGenerationRequest;
use omnireward_shared::{
    Label, MediaKind, MediaLocation, MediaRef, Order, Response, Sample, Setting, Task, Verdict,
    parse_verdict,
};

use super::thread::{LocalScoringError, ModelThread};
use super::vision_prompt::{JudgePart, parts_with, sample_parts};
use crate::judges::api::prompts::{MediaSlot, PromptSet, RenderedPrompt, UserPart};
use crate::media::MediaEncoder;

/// A loaded chat model on its own thread.
pub struct GenerativeThread {
    thread: ModelThread<GenerativeModel>,
    description: ChatModelDescription,
    path: PathBuf,
}

impl GenerativeThread {
    /// Starts the thread and loads the model on it; returns once it is loaded (or failed to).
    /// Blocking.
    pub fn start(path: PathBuf, device: DeviceChoice) -> Result<GenerativeThread, LocalJudgeError> {
        let (thread, (description, path)) = ModelThread::start("generative-judge", move || {
            let model = GenerativeModel::load(&path, device)?;
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

    /// Whether the loaded model reads images and videos.
    pub fn reads_media(&self) -> bool {
        reads_media(&self.description.architecture)
    }

    /// The folder (canonicalized) or GGUF file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `work` on the model's thread and awaits its result.
    pub async fn run<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&GenerativeModel) -> Result<T, LocalScoringError> + Send + 'static,
    {
        self.thread.run(work).await
    }

    /// Runs `work` on the model's thread and blocks until it is done.
    pub fn run_blocking<T, F>(&self, work: F) -> Result<T, LocalScoringError>
    where
        T: Send + 'static,
        F: FnOnce(&GenerativeModel) -> Result<T, LocalScoringError> + Send + 'static,
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
    model: &GenerativeModel,
    prompts: &PromptSet,
    criterion: &str,
    prompt: &str,
    responses: [&str; 2],
    max_new_tokens: usize,
) -> Result<PairAnswer, LocalScoringError> {
    let [first, second] = responses;
    let sample = pair_sample(
        Task::TextToText,
        criterion,
        prompt,
        [
            Response::Text {
                text: first.to_owned(),
            },
            Response::Text {
                text: second.to_owned(),
            },
        ],
    );
    let rendered = render_pair(prompts, &sample)?;
    let request = match model {
        GenerativeModel::Text(chat) => {
            JudgeRequest::Text(chat.prompt(Some(&rendered.system), &text_user_message(&rendered))?)
        }
        GenerativeModel::Vision(vision) => {
            let parts = parts_with(&rendered, |slot| Err(no_media(&sample, slot)))?;
            JudgeRequest::Vision(vision_request(vision, &rendered, &parts)?)
        }
    };
    answer_pair(model, &request, max_new_tokens)
}

/// Asks a vision-language `model` which of two image responses to `prompt` is better: the
/// prompt set's T2I prompt of the with-ties setting in the original order, the images in its
/// response slots, answered greedily (`omnireward score --image1/--image2` and the demo).
/// Blocking: call it on the model's thread.
pub fn judge_image_pair(
    model: &GenerativeModel,
    prompts: &PromptSet,
    criterion: &str,
    prompt: &str,
    images: [DynamicImage; 2],
    max_new_tokens: usize,
) -> Result<PairAnswer, LocalScoringError> {
    let GenerativeModel::Vision(vision) = model else {
        return Err(LocalJudgeError::Input {
            message: "this chat model reads text only: give text responses".to_owned(),
        }
        .into());
    };
    // Rendering reads no media: the responses only need to be media of the task's kind, and
    // their slots are filled with the given images below.
    let placeholder = |name: &str| Response::Media {
        media: MediaRef {
            kind: MediaKind::Image,
            name: name.to_owned(),
            location: MediaLocation::File {
                path: String::new(),
            },
        },
    };
    let sample = pair_sample(
        Task::TextToImage,
        criterion,
        prompt,
        [placeholder("response1"), placeholder("response2")],
    );
    let rendered = render_pair(prompts, &sample)?;
    let [first, second] = images;
    let parts = parts_with(&rendered, |slot| match slot {
        MediaSlot::ResponseA => Ok(JudgePart::Image(first.clone())),
        MediaSlot::ResponseB => Ok(JudgePart::Image(second.clone())),
        MediaSlot::PromptMedia => Err(no_media(&sample, slot)),
    })?;
    let request = JudgeRequest::Vision(vision_request(vision, &rendered, &parts)?);
    answer_pair(model, &request, max_new_tokens)
}

/// A sample of `task` holding one pair given by hand (its label is not read: rendering needs
/// none).
fn pair_sample(task: Task, criterion: &str, prompt: &str, responses: [Response; 2]) -> Sample {
    let [response1, response2] = responses;
    Sample {
        id: "pair".to_owned(),
        task,
        prompt: prompt.to_owned(),
        prompt_media: None,
        response1,
        response2,
        criterion: criterion.to_owned(),
        label: Label::Tie,
        model1: None,
        model2: None,
    }
}

fn render_pair(prompts: &PromptSet, sample: &Sample) -> Result<RenderedPrompt, LocalScoringError> {
    prompts
        .render(sample, Setting::WithTies, Order::Original)
        .map_err(|error| LocalScoringError::Input {
            task: sample.task,
            sample_id: sample.id.clone(),
            message: error.to_string(),
        })
}

fn no_media(sample: &Sample, slot: MediaSlot) -> LocalScoringError {
    LocalScoringError::Input {
        task: sample.task,
        sample_id: sample.id.clone(),
        message: format!("the template's {} slot has no media here", slot.token()),
    }
}

/// The greedy answer to one prepared request.
fn answer_pair(
    model: &GenerativeModel,
    request: &JudgeRequest,
    max_new_tokens: usize,
) -> Result<PairAnswer, LocalScoringError> {
    let decoding = DecodingOptions {
        max_new_tokens,
        ..DecodingOptions::default()
    };
    let answer = generate(model, &[(request, 0)], &decoding, Batching::default())?
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

/// Whether a generative judge of `architecture` (as its description names it) reads images and
/// videos.
pub fn reads_media(architecture: &str) -> bool {
    omnireward_local_judge::generation::vision_language::VISION_LANGUAGE_ARCHITECTURES
        .contains(&architecture)
}

/// A judge prompt ready for its model: token ids for a text chat model, token ids with processed
/// images and videos for a vision-language one.
#[derive(Clone, Debug)]
pub enum JudgeRequest {
    /// The rendered prompt's tokens.
    Text(Vec<u32>),
    /// The rendered, expanded prompt's tokens with its media.
    Vision(VisualGenerationRequest),
}

/// The request of `rendered` (rendered from `sample` in `order`) for `model`: its text for a
/// text chat model, with the sample's media decoded into the slots for a vision-language one.
/// Blocking.
pub fn judge_request(
    model: &GenerativeModel,
    rendered: &RenderedPrompt,
    sample: &Sample,
    order: Order,
    media: &MediaEncoder,
) -> Result<JudgeRequest, LocalScoringError> {
    match model {
        GenerativeModel::Text(chat) => Ok(JudgeRequest::Text(
            chat.prompt(Some(&rendered.system), &text_user_message(rendered))?,
        )),
        GenerativeModel::Vision(vision) => {
            let parts = sample_parts(rendered, sample, order, media)?;
            Ok(JudgeRequest::Vision(vision_request(
                vision, rendered, &parts,
            )?))
        }
    }
}

fn vision_request(
    vision: &omnireward_local_judge::generation::vision_language::VisionChatModel,
    rendered: &RenderedPrompt,
    parts: &[JudgePart],
) -> Result<VisualGenerationRequest, LocalScoringError> {
    let parts: Vec<_> = parts.iter().map(JudgePart::as_prompt_part).collect();
    Ok(vision.request(Some(&rendered.system), &parts, 0)?)
}

/// Generates an answer to each `(request, seed)` with continuous batching, in order. The
/// requests must have been prepared for `model`.
pub fn generate(
    model: &GenerativeModel,
    requests: &[(&JudgeRequest, u64)],
    decoding: &DecodingOptions,
    batching: Batching,
) -> Result<Vec<Generated>, LocalScoringError> {
    let mismatch = || LocalJudgeError::Input {
        message: "a judge request was prepared for another kind of model".to_owned(),
    };
    let answers = match model {
        GenerativeModel::Text(chat) => {
            let requests = requests
                .iter()
                .map(|(request, seed)| match request {
                    JudgeRequest::Text(prompt) => Ok(GenerationRequest {
                        prompt: prompt.clone(),
                        seed: *seed,
                    }),
                    JudgeRequest::Vision(_) => Err(mismatch()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            chat.generate(&requests, decoding, batching, &mut |_, _| Ok(()))?
        }
        GenerativeModel::Vision(vision) => {
            let requests = requests
                .iter()
                .map(|(request, seed)| match request {
                    JudgeRequest::Vision(visual) => Ok(VisualGenerationRequest {
                        seed: *seed,
                        ..visual.clone()
                    }),
                    JudgeRequest::Text(_) => Err(mismatch()),
                })
                .collect::<Result<Vec<_>, _>>()?;
            vision.generate(&requests, decoding, batching, &mut |_, _| Ok(()))?
        }
    };
    Ok(answers)
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
