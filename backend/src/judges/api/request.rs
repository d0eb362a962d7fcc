//! Builds the chat-completions request body for one sample: the system prompt, then the user
//! message as text and media parts in the order the template lays them out.
//!
//! A user message without media is sent as one string, not as a list of text parts: servers
//! whose chat template renders `content` as a string (llama.cpp's, through llama-cpp-python)
//! answer 500 to a list. Rendering already merges adjacent text, so such a message is one text
//! part, and the string is exactly that part's text.
//!
//! Media: images as JPEG data URLs; videos as `k` uniformly sampled frames (10 for a TV2T prompt
//! video, 5 per T2V response by default); TA2T prompt audio as one `input_audio` part; T2A
//! responses as one clip "A, 1 s silence, B" at the A slot (common audio APIs accept a single
//! clip), or as two clips with [`AudioParts::Separate`].

use omnireward_shared::{MediaKind, MediaRef, Order, Response, Sample};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::prompts::{MediaSlot, RenderedPrompt, UserPart};
use crate::judges::ablation::Ablation;
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
    /// Parts of the input taken away (an ablation audit). Left out of the identity when empty,
    /// so runs on full inputs keep the identity they had before ablations existed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ablations: Vec<Ablation>,
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
            // The template's words around a slot stay: only the media themselves are taken away.
            UserPart::Media(_) if options.ablations.contains(&Ablation::Media) => {}
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
            { "role": "user", "content": user_content(parts) },
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

/// The user message's `content`: a string when every part is text (their texts joined with
/// nothing between them, as the rendered prompt joins them), else the list of parts.
fn user_content(parts: Vec<Value>) -> Value {
    let text_only = parts
        .iter()
        .all(|part| part.get("type").and_then(Value::as_str) == Some("text"));
    if !text_only {
        return Value::Array(parts);
    }
    let text: String = parts
        .iter()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    Value::String(text)
}

fn image_part(data_url: &str) -> Value {
    json!({ "type": "image_url", "image_url": { "url": data_url } })
}

fn audio_part(wav_base64: &str) -> Value {
    json!({ "type": "input_audio", "input_audio": { "data": wav_base64, "format": "wav" } })
}

#[cfg(test)]
mod tests {
    use omnireward_shared::{Setting, Task};

    use super::*;
    use crate::data::{LoadOptions, embedded};
    use crate::judges::api::prompts::PromptSet;

    fn options() -> RequestOptions {
        RequestOptions {
            model: "m".to_owned(),
            temperature: None,
            max_tokens: Some(64),
            extra_body: Map::new(),
            prompt_video_frames: 10,
            response_video_frames: 5,
            audio_parts: AudioParts::Joined,
            ablations: Vec::new(),
        }
    }

    #[test]
    fn text_only_messages_are_strings_and_media_messages_are_parts() {
        let home = tempfile::TempDir::new().expect("temporary folder");
        let options_for = |task| LoadOptions {
            tasks: vec![task],
            ..LoadOptions::default()
        };
        let encoder = MediaEncoder::new(home.path().join("media"));
        let prompts = PromptSet::builtin();

        let text = embedded::load(home.path(), &options_for(Task::TextToText)).expect("loads");
        assert!(!text.samples.is_empty());
        for sample in &text.samples {
            for setting in Setting::ALL {
                for order in [Order::Original, Order::Swapped] {
                    let rendered = prompts.render(sample, setting, order).expect("renders");
                    let body =
                        build_body(&rendered, sample, order, &encoder, &options()).expect("builds");
                    // Exactly the text the parts carried, nothing added between them.
                    assert_eq!(
                        body["messages"][1]["content"],
                        Value::String(rendered.text_only())
                    );
                    assert_eq!(
                        body["messages"][0]["content"],
                        Value::String(rendered.system)
                    );
                    assert_eq!(body["max_tokens"], json!(64));
                }
            }
        }

        let image =
            embedded::load(home.path(), &options_for(Task::TextImageToText)).expect("loads");
        let sample = image.samples.first().expect("a TI2T sample");
        let rendered = prompts
            .render(sample, Setting::WithTies, Order::Original)
            .expect("renders");
        let body =
            build_body(&rendered, sample, Order::Original, &encoder, &options()).expect("builds");
        let parts = body["messages"][1]["content"]
            .as_array()
            .expect("a message with media is a list of parts");
        let kinds: Vec<&str> = parts
            .iter()
            .filter_map(|part| part["type"].as_str())
            .collect();
        assert!(
            kinds.contains(&"image_url") && kinds.contains(&"text"),
            "{kinds:?}"
        );
    }
}
