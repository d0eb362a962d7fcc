//! Benchmark samples as local-model inputs: texts for text models, decoded images (or sampled
//! video frames) for image-text models.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use image::DynamicImage;
use omnireward_local_judge::input::ScoringText;
use omnireward_local_judge::judge::{ImagePair, request_text};
use omnireward_shared::{MediaKind, MediaRef, Response, Sample};

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
