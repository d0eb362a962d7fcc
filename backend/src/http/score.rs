//! `POST /score`: the public scoring demo. A criterion, a prompt and two responses (texts, or
//! images for image-text and vision-language models) in; both rewards, the verdict and the
//! latency out, from the server's local model. A vision-language model reads text responses as
//! a T2T conversation and image responses as T2I does in runs (`judges::local::inputs`); a chat
//! model (generative judge) answers with its verdict and the text it gave it in, asked as
//! `omnireward score` asks it ([`judge_text_pair`]; a vision-language chat model also takes
//! images, read in the T2I prompt's response slots, [`judge_image_pair`]). Vision-language and
//! omni reward models also take two short videos, read as a T2V sample's responses
//! (`--frames`' default of frames, at the rate they span).
//!
//! The model runs on its own inference thread ([`InferenceThread`]); requests wait for it in a
//! bounded queue, and one that finds the queue full is refused with 429 at once rather than
//! piling up behind a slow model. Inputs are bounded in size before anything is decoded.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use omnireward_local_judge::architecture::ModelKind;
use omnireward_local_judge::conversation::{Conversation, ConversationMedia};
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{ImagePair, request_text};
use omnireward_shared::Verdict;
use tokio::sync::Semaphore;

use super::{ApiError, AppState};
use crate::judges::api::prompts::PromptSet;
use crate::judges::local::generative::{judge_image_pair, judge_text_pair};
use crate::judges::local::inputs::{
    ConversationLayout, DEFAULT_RESPONSE_FRAMES, generated_conversation, media_response_pair, video,
};
use crate::judges::local::{GenerativeThread, InferenceThread};
use crate::media::MediaEncoder;
use omnireward_shared::{MediaKind, MediaLocation, MediaRef};
use std::path::PathBuf;

/// Longest criterion, prompt or text response, in bytes.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// Largest image, in bytes after base64 decoding.
pub const MAX_IMAGE_BYTES: usize = 3 * 1024 * 1024;
/// Largest video, in bytes after base64 decoding (a short clip).
pub const MAX_VIDEO_BYTES: usize = MAX_IMAGE_BYTES;
/// Largest request body of this route: two images (or videos) and the texts, base64-encoded.
pub const SCORE_BODY_LIMIT: usize = 9 * 1024 * 1024;
/// Requests admitted at once (one scoring, the rest waiting for the model).
pub const DEFAULT_QUEUE_DEPTH: usize = 8;

/// The model behind the demo and its admission queue.
pub struct ScoringService {
    model: DemoModel,
    model_name: String,
    admitted: Semaphore,
    /// Decodes posted videos (ffmpeg), caching under the server's cache folder.
    media: MediaEncoder,
    /// Where posted videos are written while they are decoded.
    scratch: PathBuf,
}

/// A reward model, or a chat model judging as a generative judge.
enum DemoModel {
    Reward(InferenceThread),
    Generative {
        thread: GenerativeThread,
        prompts: Arc<PromptSet>,
        max_new_tokens: usize,
    },
}

impl ScoringService {
    /// A service over a loaded reward model, admitting `queue_depth` requests at once.
    pub fn new(thread: InferenceThread, model_name: String, queue_depth: usize) -> ScoringService {
        ScoringService::over(DemoModel::Reward(thread), model_name, queue_depth)
    }

    /// A service over a loaded chat model, which answers with at most `max_new_tokens` tokens
    /// (greedy) to the built-in prompts, admitting `queue_depth` requests at once.
    pub fn generative(
        thread: GenerativeThread,
        model_name: String,
        queue_depth: usize,
        max_new_tokens: usize,
    ) -> ScoringService {
        let model = DemoModel::Generative {
            thread,
            prompts: Arc::new(PromptSet::builtin()),
            max_new_tokens: max_new_tokens.max(1),
        };
        ScoringService::over(model, model_name, queue_depth)
    }

    /// A service over `model`; posted videos go to the system's temporary folder until
    /// [`ScoringService::with_media_cache`] names the server's cache.
    fn over(model: DemoModel, model_name: String, queue_depth: usize) -> ScoringService {
        let scratch = std::env::temp_dir().join("omnireward-demo");
        ScoringService {
            model,
            model_name,
            admitted: Semaphore::new(queue_depth.max(1)),
            media: MediaEncoder::new(scratch.join("media-cache")),
            scratch,
        }
    }

    /// The inference thread a reward model runs on (`None` for a chat model).
    pub fn thread(&self) -> Option<&InferenceThread> {
        match &self.model {
            DemoModel::Reward(thread) => Some(thread),
            DemoModel::Generative { .. } => None,
        }
    }

    /// Whether the model is a chat model answering with a verdict and its text.
    pub fn is_generative(&self) -> bool {
        matches!(self.model, DemoModel::Generative { .. })
    }

    fn architecture(&self) -> String {
        match &self.model {
            DemoModel::Reward(thread) => thread.description().architecture.to_owned(),
            DemoModel::Generative { thread, .. } => thread.description().architecture.clone(),
        }
    }

    /// The model's leaderboard name.
    pub fn model_name(&self) -> &str {
        &self.model_name
    }

    /// Whether the model looks at images (CLIP, SigLIP, vision-language models) rather than
    /// reading text only.
    pub fn reads_images(&self) -> bool {
        match &self.model {
            DemoModel::Reward(thread) => thread.description().reads_images,
            DemoModel::Generative { thread, .. } => thread.reads_media(),
        }
    }

    /// How the reward model scores; `None` for a chat model (which reads text only).
    pub fn kind(&self) -> Option<ModelKind> {
        match &self.model {
            DemoModel::Reward(thread) => Some(thread.description().kind),
            DemoModel::Generative { .. } => None,
        }
    }

    /// The kind whose task coverage the model has: a text chat model reads what a text decoder
    /// reads (T2T, and the prompt text of TI2T, TV2T and TA2T); a vision-language chat model
    /// what a vision-language reward model reads (the demo takes images, not videos).
    pub fn coverage_kind(&self) -> ModelKind {
        match &self.model {
            DemoModel::Generative { thread, .. } if thread.reads_media() => {
                ModelKind::MultimodalConversation
            }
            _ => self.kind().unwrap_or(ModelKind::DecoderClassifier),
        }
    }

    /// How many more requests would be admitted now (0: the next one gets 429).
    pub fn free_places(&self) -> usize {
        self.admitted.available_permits()
    }
}

pub use omnireward_shared::wire::{JudgeAnswer, ScoreRequest, ScoreResponse};

fn check_text(field: &'static str, text: &str) -> Result<(), ApiError> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(ApiError::InvalidInput(format!(
            "`{field}` is {} bytes; the limit is {MAX_TEXT_BYTES}",
            text.len()
        )));
    }
    Ok(())
}

fn decode_image(field: &'static str, encoded: &str) -> Result<image::DynamicImage, ApiError> {
    let payload = encoded
        .split_once(";base64,")
        .map_or(encoded, |(_, payload)| payload);
    if payload.len() > MAX_IMAGE_BYTES / 3 * 4 + 4 {
        return Err(ApiError::InvalidInput(format!(
            "`{field}` is larger than {MAX_IMAGE_BYTES} bytes"
        )));
    }
    let bytes = BASE64
        .decode(payload.trim())
        .map_err(|error| ApiError::InvalidInput(format!("`{field}` is not base64: {error}")))?;
    crate::media::decode_image(&bytes).map_err(|error| match error {
        crate::media::ImageDecodeError::TooLarge { .. } => {
            ApiError::InvalidInput(format!("`{field}`: {error}"))
        }
        crate::media::ImageDecodeError::Image(error) => {
            ApiError::InvalidInput(format!("`{field}` is not a PNG or JPEG image: {error}"))
        }
    })
}

/// A base64 video's bytes, bounded before decoding.
fn decode_video(field: &'static str, encoded: &str) -> Result<Vec<u8>, ApiError> {
    let payload = encoded
        .split_once(";base64,")
        .map_or(encoded, |(_, payload)| payload);
    if payload.len() > MAX_VIDEO_BYTES / 3 * 4 + 4 {
        return Err(ApiError::InvalidInput(format!(
            "`{field}` is larger than {MAX_VIDEO_BYTES} bytes"
        )));
    }
    let bytes = BASE64
        .decode(payload.trim())
        .map_err(|error| ApiError::InvalidInput(format!("`{field}` is not base64: {error}")))?;
    if bytes.is_empty() {
        return Err(ApiError::InvalidInput(format!("`{field}` is empty")));
    }
    Ok(bytes)
}

impl ScoringService {
    /// Caches decoded videos under `cache_dir` (the server's cache folder) instead of the
    /// system's temporary folder.
    pub fn with_media_cache(mut self, cache_dir: PathBuf) -> ScoringService {
        self.media = MediaEncoder::new(cache_dir.join("media"));
        self.scratch = cache_dir.join("demo-videos");
        self
    }

    /// The two posted videos as a T2V sample's conversations in `layout`: each written to the
    /// scratch folder under its SHA-256, decoded into frames at the rate they span, removed.
    fn video_pair(
        &self,
        criterion: &str,
        prompt: &str,
        videos: &[Vec<u8>; 2],
        layout: ConversationLayout,
    ) -> Result<[Conversation; 2], ApiError> {
        use sha2::Digest as _;
        std::fs::create_dir_all(&self.scratch)
            .map_err(|error| ApiError::Internal(format!("the demo's scratch folder: {error}")))?;
        let read = |index: usize, bytes: &[u8]| -> Result<Conversation, ApiError> {
            let digest = hex::encode(sha2::Sha256::digest(bytes));
            let path = self.scratch.join(format!("{digest}.video"));
            std::fs::write(&path, bytes)
                .map_err(|error| ApiError::Internal(format!("writing a posted video: {error}")))?;
            let item = MediaRef {
                kind: MediaKind::Video,
                name: format!("video{}", index + 1),
                location: MediaLocation::File {
                    path: path.to_string_lossy().into_owned(),
                },
            };
            let decoded = video(&item, &self.media, DEFAULT_RESPONSE_FRAMES);
            // The frames are decoded (and cached by content): the file is not needed again.
            let _ = std::fs::remove_file(&path);
            let media = vec![decoded.map_err(|error| {
                ApiError::InvalidInput(format!("`video{}` could not be read: {error}", index + 1))
            })?];
            Ok(generated_conversation(layout, criterion, prompt, media))
        };
        Ok([read(0, &videos[0])?, read(1, &videos[1])?])
    }
}

enum Inputs {
    Texts {
        criterion: String,
        prompt: String,
        responses: [String; 2],
    },
    Images(ImagePair),
    Conversations([Conversation; 2]),
    /// Two video responses (decoded bytes) for a conversation reward model in `layout`.
    Videos {
        criterion: String,
        prompt: String,
        videos: [Vec<u8>; 2],
        layout: ConversationLayout,
    },
    /// Two image responses for a vision-language chat model, which reads them in the slots of
    /// the judge prompt.
    ImageResponses {
        criterion: String,
        prompt: String,
        images: [image::DynamicImage; 2],
    },
}

/// The inputs of `request` for a model scoring as `kind` (`None`: a chat model, which reads
/// images when `reads_images`).
fn inputs(
    request: ScoreRequest,
    kind: Option<ModelKind>,
    reads_images: bool,
) -> Result<Inputs, ApiError> {
    check_text("criterion", &request.criterion)?;
    check_text("prompt", &request.prompt)?;
    if request.video1.is_some() || request.video2.is_some() {
        let (Some(first), Some(second), None, None, None, None) = (
            request.video1,
            request.video2,
            request.response1,
            request.response2,
            request.image1,
            request.image2,
        ) else {
            return Err(ApiError::InvalidInput(
                "send both `video1` and `video2`, and no text or image responses with them"
                    .to_owned(),
            ));
        };
        let layout = kind.and_then(ConversationLayout::of).ok_or_else(|| {
            ApiError::InvalidInput(
                "this model reads no video: videos need a vision-language or omni reward model"
                    .to_owned(),
            )
        })?;
        return Ok(Inputs::Videos {
            criterion: request.criterion,
            prompt: request.prompt,
            videos: [
                decode_video("video1", &first)?,
                decode_video("video2", &second)?,
            ],
            layout,
        });
    }
    match (
        request.response1,
        request.response2,
        request.image1,
        request.image2,
    ) {
        (Some(first), Some(second), None, None) => {
            if kind == Some(ModelKind::ImageText) {
                return Err(ApiError::InvalidInput(
                    "this model compares images with text: send `image1` and `image2`".to_owned(),
                ));
            }
            check_text("response1", &first)?;
            check_text("response2", &second)?;
            if first.trim().is_empty() || second.trim().is_empty() {
                return Err(ApiError::InvalidInput(
                    "both responses must be non-empty".to_owned(),
                ));
            }
            Ok(Inputs::Texts {
                criterion: request.criterion,
                prompt: request.prompt,
                responses: [first, second],
            })
        }
        (None, None, Some(first), Some(second)) => {
            // A vision-language model reads each image as a T2I sample's response: in the user
            // turn before the prompt; an image-text model compares each with the text.
            let layout = match kind {
                Some(ModelKind::ImageText) => None,
                Some(kind @ (ModelKind::MultimodalConversation | ModelKind::OmniConversation)) => {
                    ConversationLayout::of(kind)
                }
                None if reads_images => {
                    return Ok(Inputs::ImageResponses {
                        images: [
                            decode_image("image1", &first)?,
                            decode_image("image2", &second)?,
                        ],
                        criterion: request.criterion,
                        prompt: request.prompt,
                    });
                }
                Some(
                    ModelKind::EncoderClassifier
                    | ModelKind::DecoderClassifier
                    | ModelKind::TextEmbedding,
                )
                | None => {
                    return Err(ApiError::InvalidInput(
                        "this model reads text only: send `response1` and `response2`".to_owned(),
                    ));
                }
            };
            let (first, second) = (
                decode_image("image1", &first)?,
                decode_image("image2", &second)?,
            );
            if let Some(layout) = layout {
                return Ok(Inputs::Conversations(media_response_pair(
                    layout,
                    &request.criterion,
                    &request.prompt,
                    [
                        ConversationMedia::Image(first),
                        ConversationMedia::Image(second),
                    ],
                )));
            }
            Ok(Inputs::Images(ImagePair {
                text: request_text(&request.criterion, &request.prompt),
                first: vec![first],
                second: vec![second],
            }))
        }
        _ => Err(ApiError::InvalidInput(
            "send either `response1` and `response2` (texts) or `image1` and `image2` (images)"
                .to_owned(),
        )),
    }
}

/// `POST /score`.
#[utoipa::path(
    post,
    path = "/score",
    tag = "demo",
    request_body(content = ScoreRequest,
                 description = "Two text responses, or two base64 images (a body of up to 9 MiB)."),
    responses(
        (status = 200, description = "Both rewards and the verdict (a reward model), or the verdict and the judge's text (a chat model).", body = ScoreResponse),
        (status = 400, description = "Malformed body.", body = super::error::ErrorBody),
        (status = 422, description = "Inputs the model cannot take.",
         body = super::error::ErrorBody),
        (status = 429, description = "The demo's queue is full.", body = super::error::ErrorBody),
        (status = 503, description = "The server runs without a demo model.",
         body = super::error::ErrorBody),
    )
)]
/// Refused with 503 when the server has no model, 429 when the queue is full, 422 for inputs
/// the model cannot take.
pub(super) async fn score(
    State(state): State<AppState>,
    body: Result<Json<ScoreRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<ScoreResponse>, ApiError> {
    let Json(request) = body.map_err(|rejection| ApiError::Malformed(rejection.body_text()))?;
    score_pair(&state, request).await.map(Json)
}

/// Scores one pair with the server's demo model: the service behind `POST /score` and the demo
/// page's form.
pub(super) async fn score_pair(
    state: &AppState,
    request: ScoreRequest,
) -> Result<ScoreResponse, ApiError> {
    let service: Arc<ScoringService> = state.scoring.clone().ok_or_else(|| {
        ApiError::Unavailable(
            "the scoring demo is off: this server was started without a local model (see `omnireward serve --help`)".to_owned(),
        )
    })?;
    let inputs = inputs(request, service.kind(), service.reads_images())?;
    let arrived = Instant::now();
    let _permit = service.admitted.try_acquire().map_err(|_| {
        ApiError::Saturated("the scoring demo is busy; try again in a few seconds".to_owned())
    })?;
    // Videos are decoded (ffmpeg) off the async workers, once admitted.
    let inputs = match inputs {
        Inputs::Videos {
            criterion,
            prompt,
            videos,
            layout,
        } => {
            let decoding = Arc::clone(&service);
            let pair = tokio::task::spawn_blocking(move || {
                decoding.video_pair(&criterion, &prompt, &videos, layout)
            })
            .await
            .map_err(|error| ApiError::Internal(format!("decoding videos stopped: {error}")))??;
            Inputs::Conversations(pair)
        }
        other => other,
    };
    let thread = match &service.model {
        DemoModel::Reward(thread) => thread,
        DemoModel::Generative {
            thread,
            prompts,
            max_new_tokens,
        } => {
            let prompts = Arc::clone(prompts);
            let max_new_tokens = *max_new_tokens;
            let (answer, latency_ms, queue_ms) = thread
                .run(move |model| {
                    let queue_ms = arrived.elapsed().as_secs_f64() * 1e3;
                    let started = Instant::now();
                    let answer = match inputs {
                        Inputs::Texts {
                            criterion,
                            prompt,
                            responses: [first, second],
                        } => judge_text_pair(
                            model,
                            &prompts,
                            &criterion,
                            &prompt,
                            [&first, &second],
                            max_new_tokens,
                        )?,
                        Inputs::ImageResponses {
                            criterion,
                            prompt,
                            images,
                        } => judge_image_pair(
                            model,
                            &prompts,
                            &criterion,
                            &prompt,
                            images,
                            max_new_tokens,
                        )?,
                        // `inputs` gives a chat model texts or image responses only.
                        Inputs::Images(_) | Inputs::Conversations(_) | Inputs::Videos { .. } => {
                            return Err(omnireward_local_judge::LocalJudgeError::Input {
                                message: "this chat model cannot take these inputs".to_owned(),
                            }
                            .into());
                        }
                    };
                    Ok((answer, started.elapsed().as_secs_f64() * 1e3, queue_ms))
                })
                .await
                .map_err(|error| ApiError::Internal(error.to_string()))?;
            return Ok(ScoreResponse {
                model: service.model_name.clone(),
                architecture: service.architecture(),
                reward1: None,
                reward2: None,
                verdict: answer.verdict,
                judge: Some(JudgeAnswer {
                    text: answer.text,
                    prompt_tokens: answer.prompt_tokens as u64,
                    generated_tokens: answer.generated_tokens as u64,
                }),
                latency_ms,
                queue_ms,
            });
        }
    };
    let (rewards, latency_ms, queue_ms) = thread
        .run(move |judge| {
            let queue_ms = arrived.elapsed().as_secs_f64() * 1e3;
            let started = Instant::now();
            let rewards = match &inputs {
                Inputs::Texts {
                    criterion,
                    prompt,
                    responses: [first, second],
                } => {
                    let text = |response| ScoringText {
                        criterion,
                        prompt,
                        response,
                    };
                    judge.score_text_pairs(&[[text(first), text(second)]], &mut |_| {})?
                }
                Inputs::Images(pair) => {
                    judge.score_image_pairs(std::slice::from_ref(pair), &mut |_| {})?
                }
                Inputs::Conversations(pair) => {
                    judge.score_conversation_pairs(std::slice::from_ref(pair), &mut |_| {})?
                }
                // `inputs` gives these to chat models only; videos were decoded above.
                Inputs::ImageResponses { .. } | Inputs::Videos { .. } => {
                    return Err(omnireward_local_judge::LocalJudgeError::Input {
                        message: "a reward model takes images as image pairs".to_owned(),
                    }
                    .into());
                }
            };
            Ok((rewards, started.elapsed().as_secs_f64() * 1e3, queue_ms))
        })
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?;
    let [reward1, reward2] = rewards
        .first()
        .copied()
        .ok_or_else(|| ApiError::Internal("the model returned no rewards".to_owned()))?;
    Ok(ScoreResponse {
        model: service.model_name.clone(),
        architecture: service.architecture(),
        reward1: Some(reward1),
        reward2: Some(reward2),
        verdict: Some(match reward1.partial_cmp(&reward2) {
            Some(std::cmp::Ordering::Greater) => Verdict::Response1,
            Some(std::cmp::Ordering::Less) => Verdict::Response2,
            _ => Verdict::Tie,
        }),
        judge: None,
        latency_ms,
        queue_ms,
    })
}
