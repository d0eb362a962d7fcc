//! Conversations scored by MiniCPM-o 2.6 with a value head (Omni-RewardModel-BT): the
//! [`Conversation`]s the backend lays out per task, read with images, videos and audio.
//!
//! A video is read as up to [`VIDEO_FRAMES`] of its frames, each scaled down to fit
//! [`VIDEO_FRAME_SIDE`] pixels a side (so none is sliced), passed as images, as the authors'
//! model was trained on video; a clip is its 16 kHz samples (cut into 30 s pieces by the
//! encoder, one placeholder block per second). A conversation longer than the token limit is
//! refused, naming its length: a cut would split a picture's or a clip's placeholders.
//!
//! Batches are planned over the encoded prompts' lengths under the judge's padded-token budget,
//! a pair's two conversations together; the model embeds pictures and clips one at a time, so
//! batching changes no reward.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use image::DynamicImage;

use crate::conversation_input::{Conversation, ConversationLimits, ConversationMedia, in_batches};
use crate::error::LocalJudgeError;
use crate::models::minicpm_o::{MiniCpmOEncoder, MiniCpmORewardModel, UserMedia};
use crate::pil_resample::{self, Filter};

/// The most frames of a video the model reads.
pub const VIDEO_FRAMES: usize = 4;
/// The longest side, in pixels, of a video frame as the model reads it.
pub const VIDEO_FRAME_SIDE: u32 = 256;

/// A loaded MiniCPM-o reward model with its encoder.
#[derive(Debug)]
pub struct MiniCpmOConversations {
    model: MiniCpmORewardModel,
    encoder: MiniCpmOEncoder,
    max_positions: Option<usize>,
}

/// `frames` reduced to at most [`VIDEO_FRAMES`] evenly spaced ones, each scaled (bicubic) to
/// fit [`VIDEO_FRAME_SIDE`] pixels a side.
fn video_frames(frames: &[DynamicImage]) -> Vec<DynamicImage> {
    let count = frames.len().min(VIDEO_FRAMES);
    (0..count)
        .map(|index| {
            // Evenly spaced over the frames given, first and last included.
            let source = if count <= 1 {
                0
            } else {
                index * (frames.len() - 1) / (count - 1)
            };
            let frame = frames[source].to_rgb8();
            let (width, height) = frame.dimensions();
            let longest = width.max(height);
            if longest <= VIDEO_FRAME_SIDE {
                return DynamicImage::ImageRgb8(frame);
            }
            let scale = f64::from(VIDEO_FRAME_SIDE) / f64::from(longest);
            let target = |side: u32| ((f64::from(side) * scale).round() as u32).max(1);
            DynamicImage::ImageRgb8(pil_resample::resize(
                &frame,
                target(width),
                target(height),
                Filter::Bicubic,
            ))
        })
        .collect()
}

impl MiniCpmOConversations {
    /// Loads the checkpoint in `folder` from its checked `weight_files` onto `device` in
    /// `dtype`, with its tokenizer and image settings.
    pub fn load(
        folder: &Path,
        weight_files: &[PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<MiniCpmOConversations, LocalJudgeError> {
        let model = MiniCpmORewardModel::load_files(folder, weight_files, dtype, device)?;
        let encoder = MiniCpmOEncoder::load(folder)?;
        Ok(MiniCpmOConversations {
            max_positions: model.max_positions(),
            model,
            encoder,
        })
    }

    /// The most tokens the language model's positions allow.
    pub fn max_positions(&self) -> Option<usize> {
        self.max_positions
    }

    /// One reward per conversation, in input order; `groups` share a batch; `progress` gets
    /// the number scored after each batch.
    pub fn score(
        &self,
        conversations: &[Conversation],
        groups: &[Vec<usize>],
        limits: ConversationLimits,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, LocalJudgeError> {
        let mut prompts = Vec::with_capacity(conversations.len());
        for (index, conversation) in conversations.iter().enumerate() {
            let frames: Vec<Vec<DynamicImage>> = conversation
                .media
                .iter()
                .map(|media| match media {
                    ConversationMedia::Video { frames, .. } => video_frames(frames),
                    ConversationMedia::Image(_) | ConversationMedia::Audio(_) => Vec::new(),
                })
                .collect();
            let mut media = Vec::new();
            for (item, frames) in conversation.media.iter().zip(&frames) {
                match item {
                    ConversationMedia::Image(image) => media.push(UserMedia::Image(image)),
                    ConversationMedia::Video { .. } => {
                        media.extend(frames.iter().map(UserMedia::Image));
                    }
                    ConversationMedia::Audio(samples) => media.push(UserMedia::Audio(samples)),
                }
            }
            let prompt = self.encoder.encode(
                &conversation.system,
                &media,
                &conversation.text,
                &conversation.response,
            )?;
            if prompt.input_ids.len() > limits.max_length {
                return Err(LocalJudgeError::Input {
                    message: format!(
                        "conversation {index}: {} tokens exceed the limit of {}; a cut would \
                         split its media, so raise --max-length",
                        prompt.input_ids.len(),
                        limits.max_length
                    ),
                });
            }
            prompts.push(prompt);
        }
        let lengths: Vec<usize> = prompts
            .iter()
            .map(|prompt| prompt.input_ids.len())
            .collect();
        in_batches(&lengths, groups, limits.batch_tokens, progress, |batch| {
            let batch_prompts: Vec<_> = batch.iter().map(|&index| prompts[index].clone()).collect();
            Ok(self.model.forward(&batch_prompts)?.1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn videos_are_read_as_four_small_frames() {
        let frames: Vec<DynamicImage> = (0..9)
            .map(|index| DynamicImage::new_rgb8(640 + index, 360))
            .collect();
        let read = video_frames(&frames);
        assert_eq!(read.len(), VIDEO_FRAMES);
        // First and last kept, evenly spaced between: frames 0, 2, 5, 8 (widths 640 … 648).
        assert_eq!(read[0].width(), 256);
        assert!(
            read.iter()
                .all(|frame| frame.width().max(frame.height()) <= VIDEO_FRAME_SIDE)
        );
        let small = vec![DynamicImage::new_rgb8(100, 50); 2];
        let read = video_frames(&small);
        assert_eq!(
            (read.len(), read[0].width(), read[0].height()),
            (2, 100, 50)
        );
    }
}
