//! Builds the chat-completions request body for one sample: the system prompt, then the user
//! message as text and media parts in the order the template lays them out.
//!
//! Media: images as JPEG data URLs; videos as `k` uniformly sampled frames (10 for a TV2T prompt
//! video, 5 per T2V response by default); TA2T prompt audio as one `input_audio` part; T2A
//! responses as one clip "A, 1 s silence, B" at the A slot (common audio APIs accept a single
//! clip), or as two clips with [`AudioParts::Separate`].

use omnireward_shared::{MediaKind, MediaRef, Order, Response, Sample};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::prompts::{MediaSlot, RenderedPrompt, UserPart};
use crate::media::{MediaEncoder, MediaError};

/// How T2A response clips are sent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AudioParts {
    /// One clip: A, one second of silence, B.
    #[default]
    Joined,
    /// Two `input_audio` parts, one per response.
    Separate,
}

/// What goes into every request besides the sample.
#[derive(Clone, Debug, Serialize)]
pub struct RequestOptions {
    /// The `model` field.
    pub model: String,
    /// `temperature`, when set (otherwise the endpoint's default, as in the paper).
    pub temperature: Option<f64>,
    /// `max_tokens`, when set.
    pub max_tokens: Option<u32>,
    /// Extra top-level body fields, merged last.
    pub extra_body: Map<String, Value>,
    /// Frames sampled from a prompt video (TV2T).
    pub prompt_video_frames: usize,
    /// Frames sampled from each response video (T2V).
    pub response_video_frames: usize,
    /// How T2A clips are sent.
    pub audio_parts: AudioParts,
}

/// Why a request could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A media item could not be encoded.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The template has a media slot the sample has no media for.
    #[error(
        "sample `{sample}`: the template has a {slot:?} slot but the sample has no media there"
    )]
    MissingMedia {
        /// Sample id.
        sample: String,
        /// The slot.
        slot: MediaSlot,
    },
}

fn response_media(response: &Response) -> Option<&MediaRef> {
    response.media()
}

/// Builds the request body. Blocking: media encoding may run ffmpeg (cached afterwards).
pub fn build_body(
    rendered: &RenderedPrompt,
    sample: &Sample,
    order: Order,
    encoder: &MediaEncoder,
    options: &RequestOptions,
) -> Result<Value, RequestError> {
    let (shown_a, shown_b) = match order {
        Order::Original => (&sample.response1, &sample.response2),
        Order::Swapped => (&sample.response2, &sample.response1),
    };
    let mut parts: Vec<Value> = Vec::new();
    for part in &rendered.user {
        match part {
            UserPart::Text(text) => parts.push(json!({ "type": "text", "text": text })),
            UserPart::Media(slot) => {
                let missing = || RequestError::MissingMedia {
                    sample: sample.id.clone(),
                    slot: *slot,
                };
                let (media, frames) = match slot {
                    MediaSlot::PromptMedia => (
                        sample.prompt_media.as_ref().ok_or_else(missing)?,
                        options.prompt_video_frames,
                    ),
                    MediaSlot::ResponseA => (
                        response_media(shown_a).ok_or_else(missing)?,
                        options.response_video_frames,
                    ),
                    MediaSlot::ResponseB => (
                        response_media(shown_b).ok_or_else(missing)?,
                        options.response_video_frames,
                    ),
                };
                match media.kind {
                    MediaKind::Image => parts.push(image_part(&encoder.image_data_url(media)?)),
                    MediaKind::Video => {
                        for frame in encoder.video_frame_data_urls(media, frames)? {
                            parts.push(image_part(&frame));
                        }
                    }
                    MediaKind::Audio => {
                        let joined_responses = options.audio_parts == AudioParts::Joined
                            && *slot != MediaSlot::PromptMedia;
                        if !joined_responses {
                            parts.push(audio_part(&encoder.audio_wav_base64(media)?));
                        } else if *slot == MediaSlot::ResponseA {
                            let second = response_media(shown_b).ok_or_else(|| {
                                RequestError::MissingMedia {
                                    sample: sample.id.clone(),
                                    slot: MediaSlot::ResponseB,
                                }
                            })?;
                            parts
                                .push(audio_part(&encoder.joined_audio_wav_base64(media, second)?));
                        }
                        // The B slot of a joined clip adds nothing: B is already in it.
                    }
                }
            }
        }
    }
    let mut body = json!({
        "model": options.model,
        "messages": [
            { "role": "system", "content": rendered.system },
            { "role": "user", "content": parts },
        ],
    });
    if let Some(object) = body.as_object_mut() {
        if let Some(temperature) = options.temperature {
            object.insert("temperature".to_owned(), json!(temperature));
        }
        if let Some(max_tokens) = options.max_tokens {
            object.insert("max_tokens".to_owned(), json!(max_tokens));
        }
        for (key, value) in &options.extra_body {
            object.insert(key.clone(), value.clone());
        }
    }
    Ok(body)
}

fn image_part(data_url: &str) -> Value {
    json!({ "type": "image_url", "image_url": { "url": data_url } })
}

fn audio_part(wav_base64: &str) -> Value {
    json!({ "type": "input_audio", "input_audio": { "data": wav_base64, "format": "wav" } })
}
