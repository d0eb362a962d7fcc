//! Benchmark samples as local-model inputs: texts for text models, decoded images (or sampled
//! video frames) for image-text models, and conversations for vision-language reward models.
//!
//! A vision-language reward model (Qwen2-VL, Qwen2.5-VL with a value or score head) reads each
//! response as one conversation rendered by its chat template, the reward read at the
//! template's last token. The layout, [`CONVERSATION_LAYOUT`] in the run's identity:
//!
//! | task | system | user turn (media first, then text) | assistant turn |
//! |---|---|---|---|
//! | T2T | criterion | prompt | response |
//! | TI2T | criterion | prompt's image, prompt | response |
//! | T2I | criterion | response's image, prompt | (empty) |
//! | T23D | criterion | response's multi-view render, prompt | (empty) |
//! | TI2I | criterion | source image, response's image, prompt | (empty) |
//! | TV2T | criterion | prompt's video, prompt | response |
//! | T2V | criterion | response's video, prompt | (empty) |
//!
//! Text responses are the assistant turn, as reward models are trained. Media responses sit in
//! the user turn before the prompt's text, following Omni-RewardData's convention of media in
//! the user turn (and the issue that asked for this layout); the assistant turn is then left
//! empty rather than repeating the prompt, so the two conversations of a sample differ only in
//! the response's media. A video is `--frames` frames sampled evenly over its decoded frames
//! (the API judges' sampling), at the rate those frames span (`frames / duration`), which sets
//! their time positions. Audio tasks are not covered (no audio tower); the run's coverage says
//! so.

//!
//! MiniCPM-o with a value head (Omni-RewardModel-BT) reads the layout its authors trained it on,
//! [`OMNI_CONVERSATION_LAYOUT`]: understanding tasks (T2T, TI2T, TV2T, TA2T) as above, the
//! prompt's media (image, video, or audio clip) in the user turn; generation tasks (T2I, T2V,
//! T2A, T23D, TI2I with the source image first) with the response's media in the user turn and
//! the prompt text as the assistant turn, Omni-RewardData's convention. It reads all nine tasks.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::DynamicImage;
use omnireward_local_judge::conversation::{Conversation, ConversationMedia};
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{ImagePair, request_text};
use omnireward_shared::{MediaKind, MediaRef, Response, Sample, Task};

use crate::data::media::read_media;
use crate::media::{MediaEncoder, MediaError};

use super::thread::LocalScoringError;

/// Frames sampled from each video response by default (the API judges' T2V default too).
pub const DEFAULT_RESPONSE_FRAMES: usize = 5;

/// Both responses of a text-response sample, scored on the prompt's text.
pub fn text_pair(sample: &Sample) -> Result<[ScoringText<'_>; 2], LocalScoringError> {
    let text = |response| {
        response_text(response).ok_or_else(|| LocalScoringError::Input {
            task: sample.task,
            sample_id: sample.id.clone(),
            message: "a text model cannot read a media response".to_owned(),
        })
    };
    Ok([
        ScoringText {
            criterion: &sample.criterion,
            prompt: &sample.prompt,
            response: text(&sample.response1)?,
        },
        ScoringText {
            criterion: &sample.criterion,
            prompt: &sample.prompt,
            response: text(&sample.response2)?,
        },
    ])
}

fn response_text(response: &Response) -> Option<&str> {
    response.text()
}

/// Both responses of an image or video sample as images, compared with criterion and prompt.
pub fn image_pair(
    sample: &Sample,
    media: &MediaEncoder,
    frames: usize,
) -> Result<ImagePair, LocalScoringError> {
    let images = |response: &Response| -> Result<Vec<DynamicImage>, LocalScoringError> {
        let item = response.media().ok_or_else(|| LocalScoringError::Input {
            task: sample.task,
            sample_id: sample.id.clone(),
            message: "an image-text model needs image or video responses".to_owned(),
        })?;
        response_images(item, media, frames).map_err(|error| LocalScoringError::Media {
            task: sample.task,
            sample_id: sample.id.clone(),
            source: Box::new(error),
        })
    };
    Ok(ImagePair {
        text: request_text(&sample.criterion, &sample.prompt),
        first: images(&sample.response1)?,
        second: images(&sample.response2)?,
    })
}

/// The name of the conversation layout above, recorded in a vision-language model's run
/// identity: another layout is another run.
pub const CONVERSATION_LAYOUT: &str =
    "criterion-system/media-then-prompt-user/response-assistant/v2-video";

/// The name of MiniCPM-o's layout (media responses in the user turn, the prompt as the
/// assistant turn), recorded in its runs' identity.
pub const OMNI_CONVERSATION_LAYOUT: &str =
    "criterion-system/media-user/response-or-generation-prompt-assistant/v1";

/// Which conversation layout a model reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConversationLayout {
    /// Qwen2-VL / Qwen2.5-VL reward models: [`CONVERSATION_LAYOUT`].
    VisionLanguage,
    /// MiniCPM-o (Omni-RewardModel-BT): [`OMNI_CONVERSATION_LAYOUT`].
    Omni,
}

impl ConversationLayout {
    /// The layout of a model of `kind`, if it reads conversations.
    pub fn of(kind: omnireward_local_judge::architecture::ModelKind) -> Option<ConversationLayout> {
        use omnireward_local_judge::architecture::ModelKind;
        match kind {
            ModelKind::MultimodalConversation => Some(ConversationLayout::VisionLanguage),
            ModelKind::OmniConversation => Some(ConversationLayout::Omni),
            ModelKind::EncoderClassifier
            | ModelKind::DecoderClassifier
            | ModelKind::ImageText
            | ModelKind::TextEmbedding => None,
        }
    }

    /// The name recorded in run identities.
    pub fn name(self) -> &'static str {
        match self {
            ConversationLayout::VisionLanguage => CONVERSATION_LAYOUT,
            ConversationLayout::Omni => OMNI_CONVERSATION_LAYOUT,
        }
    }
}

/// The conversation of one response: system = `criterion`, user = `media` then `prompt`,
/// assistant = `response` (empty for a media response).
pub fn conversation(
    criterion: &str,
    prompt: &str,
    media: Vec<ConversationMedia>,
    response: &str,
) -> Conversation {
    Conversation {
        system: criterion.to_owned(),
        media,
        text: prompt.to_owned(),
        response: response.to_owned(),
    }
}

/// A generation task's conversation in `layout`: the response's `media` in the user turn, then
/// the prompt in the user turn (vision-language) or as the assistant turn (MiniCPM-o).
pub fn generated_conversation(
    layout: ConversationLayout,
    criterion: &str,
    prompt: &str,
    media: Vec<ConversationMedia>,
) -> Conversation {
    match layout {
        ConversationLayout::VisionLanguage => conversation(criterion, prompt, media, ""),
        ConversationLayout::Omni => conversation(criterion, "", media, prompt),
    }
}

/// Two media responses to one prompt (an image, a video or a clip each) laid out as a
/// generation sample's in `layout`: `score --image1/--image2`, `--audio1/--audio2` and the
/// demo.
pub fn media_response_pair(
    layout: ConversationLayout,
    criterion: &str,
    prompt: &str,
    responses: [ConversationMedia; 2],
) -> [Conversation; 2] {
    responses.map(|media| generated_conversation(layout, criterion, prompt, vec![media]))
}

/// Both responses of a sample as conversations for a vision-language reward model, laid out as
/// the module header's table says.
pub fn conversation_pair(
    layout: ConversationLayout,
    sample: &Sample,
    media: &MediaEncoder,
    frames: usize,
) -> Result<[Conversation; 2], LocalScoringError> {
    let input_error = |message: String| LocalScoringError::Input {
        task: sample.task,
        sample_id: sample.id.clone(),
        message,
    };
    let media_error = |error: MediaError| LocalScoringError::Media {
        task: sample.task,
        sample_id: sample.id.clone(),
        source: Box::new(error),
    };
    let images = |item: &MediaRef| -> Result<Vec<ConversationMedia>, LocalScoringError> {
        match item.kind {
            MediaKind::Image => {
                let decoded = response_images(item, media, 1).map_err(media_error)?;
                Ok(decoded.into_iter().map(ConversationMedia::Image).collect())
            }
            MediaKind::Video => Ok(vec![video(item, media, frames).map_err(media_error)?]),
            MediaKind::Audio if layout == ConversationLayout::Omni => {
                Ok(vec![ConversationMedia::Audio(
                    media.audio_samples(item).map_err(media_error)?,
                )])
            }
            MediaKind::Audio => Err(input_error(format!(
                "{} is audio; a vision-language model reads images and videos",
                item.name
            ))),
        }
    };
    let prompt_images = || -> Result<Vec<ConversationMedia>, LocalScoringError> {
        let item = sample
            .prompt_media
            .as_ref()
            .ok_or_else(|| input_error("the prompt has no image or video".to_owned()))?;
        images(item)
    };
    let conversation = |media: Vec<ConversationMedia>, response: &str| {
        conversation(&sample.criterion, &sample.prompt, media, response)
    };
    let text_of = |response: &Response| {
        response
            .text()
            .map(str::to_owned)
            .ok_or_else(|| input_error("expected a text response".to_owned()))
    };
    let media_of = |response: &Response| {
        response
            .media()
            .ok_or_else(|| input_error("expected a media response".to_owned()))
            .and_then(&images)
    };
    // A generation task's conversation: the response's media in the user turn, then the
    // prompt in the user turn (vision-language) or as the assistant turn (MiniCPM-o).
    let generated =
        |media| generated_conversation(layout, &sample.criterion, &sample.prompt, media);
    match sample.task {
        // Only MiniCPM-o has an audio tower.
        Task::TextAudioToText | Task::TextToAudio if layout != ConversationLayout::Omni => Err(
            input_error("not covered by vision-language reward models (no audio tower)".to_owned()),
        ),
        Task::TextToText => Ok([
            conversation(Vec::new(), &text_of(&sample.response1)?),
            conversation(Vec::new(), &text_of(&sample.response2)?),
        ]),
        Task::TextImageToText | Task::TextVideoToText | Task::TextAudioToText => {
            let prompt = prompt_images()?;
            Ok([
                conversation(prompt.clone(), &text_of(&sample.response1)?),
                conversation(prompt, &text_of(&sample.response2)?),
            ])
        }
        Task::TextToImage | Task::TextTo3d | Task::TextToVideo | Task::TextToAudio => Ok([
            generated(media_of(&sample.response1)?),
            generated(media_of(&sample.response2)?),
        ]),
        Task::TextImageToImage => {
            let source = prompt_images()?;
            let with_source = |response: &Response| -> Result<_, LocalScoringError> {
                let mut media = source.clone();
                media.extend(media_of(response)?);
                Ok(media)
            };
            Ok([
                generated(with_source(&sample.response1)?),
                generated(with_source(&sample.response2)?),
            ])
        }
    }
}

/// A video as a vision-language model reads it: `frames` frames sampled evenly over its decoded
/// frames, at the rate they span (`frames / duration`).
pub fn video(
    item: &MediaRef,
    media: &MediaEncoder,
    frames: usize,
) -> Result<ConversationMedia, MediaError> {
    let frames = frames.max(1);
    let sampled = response_images(item, media, frames)?;
    let seconds = media.video_duration_seconds(item)?;
    Ok(ConversationMedia::Video {
        frames: sampled,
        frames_per_second: frames as f64 / seconds,
    })
}

/// The images of one media item: the image itself (decoded from its bytes when PNG or JPEG,
/// else through the media encoder), or `frames` sampled frames of a video.
pub fn response_images(
    item: &MediaRef,
    media: &MediaEncoder,
    frames: usize,
) -> Result<Vec<DynamicImage>, MediaError> {
    match item.kind {
        MediaKind::Image => {
            let bytes = read_media(item).map_err(|source| MediaError::Read {
                name: item.name.clone(),
                source,
            })?;
            match crate::media::decode_image(&bytes) {
                Ok(decoded) => Ok(vec![decoded]),
                // WebP, GIF and friends: the encoder converts them through ffmpeg.
                Err(_) => Ok(vec![decode_data_url(&media.image_data_url(item)?, item)?]),
            }
        }
        MediaKind::Video => media
            .video_frame_data_urls(item, frames.max(1))?
            .iter()
            .map(|url| decode_data_url(url, item))
            .collect(),
        MediaKind::Audio => Err(MediaError::Decode {
            name: item.name.clone(),
            message: "audio cannot be scored by an image-text model".to_owned(),
        }),
    }
}

fn decode_data_url(url: &str, item: &MediaRef) -> Result<DynamicImage, MediaError> {
    let decode_error = |message: String| MediaError::Decode {
        name: item.name.clone(),
        message,
    };
    let payload = url
        .split_once(";base64,")
        .map(|(_, payload)| payload)
        .ok_or_else(|| decode_error("not a base64 data URL".to_owned()))?;
    let bytes = BASE64
        .decode(payload)
        .map_err(|error| decode_error(error.to_string()))?;
    crate::media::decode_image(&bytes).map_err(|error| decode_error(error.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judges::local::test_samples::{image, media, sample, text};

    /// Each conversation's (width of each image, response), after checking the shared turns.
    fn layout(pair: &[Conversation; 2]) -> Vec<(Vec<u32>, String)> {
        pair.iter()
            .map(|conversation| {
                assert_eq!(conversation.system, "the criterion");
                assert_eq!(conversation.text, "the prompt");
                let widths = conversation
                    .media
                    .iter()
                    .map(|media| match media {
                        ConversationMedia::Image(image) => image.width(),
                        ConversationMedia::Video { .. } | ConversationMedia::Audio(_) => {
                            panic!("only images in an image layout")
                        }
                    })
                    .collect();
                (widths, conversation.response.clone())
            })
            .collect()
    }

    #[test]
    fn each_task_is_laid_out_with_media_first_in_the_user_turn() {
        let folder = tempfile::TempDir::new().expect("cache");
        let encoder = MediaEncoder::new(folder.path().to_path_buf());
        let pair = |sample: Sample| {
            layout(
                &conversation_pair(ConversationLayout::VisionLanguage, &sample, &encoder, 5)
                    .expect("laid out"),
            )
        };
        let texts = || [text("first"), text("second")];
        let images = || [media(image("small_20x20")), media(image("exact_56x84"))];

        assert_eq!(
            pair(sample(Task::TextToText, None, texts())),
            [(vec![], "first".to_owned()), (vec![], "second".to_owned())]
        );
        // TI2T: the prompt's image in both conversations, the responses as assistant turns.
        assert_eq!(
            pair(sample(
                Task::TextImageToText,
                Some(image("grid_140x196")),
                texts()
            )),
            [
                (vec![196], "first".to_owned()),
                (vec![196], "second".to_owned())
            ]
        );
        // T2I and T23D: each response's image, the assistant turn empty.
        for task in [Task::TextToImage, Task::TextTo3d] {
            assert_eq!(
                pair(sample(task, None, images())),
                [(vec![20], String::new()), (vec![84], String::new())],
                "{task}"
            );
        }
        // TI2I: the source image first, then the response's.
        assert_eq!(
            pair(sample(
                Task::TextImageToImage,
                Some(image("grid_140x196")),
                images()
            )),
            [
                (vec![196, 20], String::new()),
                (vec![196, 84], String::new())
            ]
        );
        // Text where media belong, audio, and a missing prompt image are errors, not guesses.
        for task in [
            Task::TextToVideo,
            Task::TextVideoToText,
            Task::TextAudioToText,
        ] {
            assert!(
                conversation_pair(
                    ConversationLayout::VisionLanguage,
                    &sample(task, None, texts()),
                    &encoder,
                    5
                )
                .is_err()
            );
        }
        let missing = conversation_pair(
            ConversationLayout::VisionLanguage,
            &sample(Task::TextImageToText, None, texts()),
            &encoder,
            5,
        )
        .expect_err("no prompt image");
        assert!(missing.to_string().contains("no image"), "{missing}");
    }
}
