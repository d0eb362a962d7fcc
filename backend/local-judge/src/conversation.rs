//! Conversations scored by a vision-language reward model (Qwen2-VL, Qwen2.5-VL with a value
//! head or a `score` head): the input type the backend fills per task, and the scorer that
//! renders, batches and runs them.
//!
//! A [`Conversation`] is `[system, user, assistant]`: the user turn is the media, in order, then
//! one text; the assistant turn is one text (possibly empty). Which sample part goes where is
//! the caller's decision (the backend's per-task layout); this module only renders it through
//! the checkpoint's chat template ([`ConversationEncoder`]), expands each image placeholder to
//! one per merged patch, and reads the reward at the template's last token.
//!
//! Batches are planned over token counts known before any pixel is processed (an image's grid
//! follows from its size), under the judge's padded-token budget, a pair's two conversations
//! together; each batch's images are processed when the batch runs, so a chunk never holds
//! every image's patches at once. A conversation longer than the token limit is cut on the side
//! the judge's truncation names, only where the cut leaves every image whole; otherwise it is
//! refused, naming the lengths (an image cannot be half seen).

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use crate::architecture::Architecture;
use crate::conversation_input::in_batches;
pub use crate::conversation_input::{Conversation, ConversationLimits, ConversationMedia};
use crate::error::LocalJudgeError;
use crate::input::TruncationSide;
use crate::models::qwen2_vl::{
    ConversationEncoder, Qwen2VlRewardModel, VisionTokens, VisualPrompt,
};
pub use crate::omni_conversation::MiniCpmOConversations;
use crate::qwen2_vl_processor::{
    MediaGrid, MediaKind, Qwen2VlImageProcessor, VisualInput, VisualPatches,
};

impl ConversationMedia {
    fn input(&self) -> Result<VisualInput<'_>, LocalJudgeError> {
        match self {
            ConversationMedia::Image(image) => Ok(VisualInput::Image(image)),
            ConversationMedia::Video {
                frames,
                frames_per_second,
            } => Ok(VisualInput::Video {
                frames,
                frames_per_second: *frames_per_second,
            }),
            ConversationMedia::Audio(_) => Err(audio_refused()),
        }
    }
}

fn audio_refused() -> LocalJudgeError {
    LocalJudgeError::Input {
        message: "a Qwen2-VL model has no audio tower: audio cannot be scored".to_owned(),
    }
}

/// A loaded conversation reward model: Qwen2-VL / Qwen2.5-VL, or MiniCPM-o.
#[derive(Debug)]
pub enum ConversationScorer {
    /// Qwen2-VL / Qwen2.5-VL with a value or `score` head.
    Qwen2Vl(Box<Qwen2VlConversations>),
    /// MiniCPM-o 2.6 with a value head (Omni-RewardModel-BT).
    MiniCpmO(Box<MiniCpmOConversations>),
}

impl ConversationScorer {
    /// Loads the checkpoint in `folder` (its `architecture`) from its checked `weight_files`
    /// onto `device` in `dtype`.
    pub fn load(
        folder: &Path,
        architecture: Architecture,
        weight_files: &[PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<ConversationScorer, LocalJudgeError> {
        match architecture {
            Architecture::MiniCpmO => Ok(ConversationScorer::MiniCpmO(Box::new(
                MiniCpmOConversations::load(folder, weight_files, dtype, device)?,
            ))),
            _ => Ok(ConversationScorer::Qwen2Vl(Box::new(
                Qwen2VlConversations::load(folder, weight_files, dtype, device)?,
            ))),
        }
    }

    /// The most tokens the language model's positions allow, if the config states it.
    pub fn max_positions(&self) -> Option<usize> {
        match self {
            ConversationScorer::Qwen2Vl(scorer) => scorer.max_positions(),
            ConversationScorer::MiniCpmO(scorer) => scorer.max_positions(),
        }
    }

    /// One reward per conversation, in input order (see [`Qwen2VlConversations::score`]).
    pub fn score(
        &self,
        conversations: &[Conversation],
        groups: &[Vec<usize>],
        limits: ConversationLimits,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, LocalJudgeError> {
        match self {
            ConversationScorer::Qwen2Vl(scorer) => {
                scorer.score(conversations, groups, limits, progress)
            }
            ConversationScorer::MiniCpmO(scorer) => {
                scorer.score(conversations, groups, limits, progress)
            }
        }
    }
}

/// A loaded vision-language reward model with its image processor and chat template.
#[derive(Debug)]
pub struct Qwen2VlConversations {
    model: Qwen2VlRewardModel,
    processor: Qwen2VlImageProcessor,
    /// The video settings (`video_preprocessor_config.json`, else the image settings).
    video_processor: Qwen2VlImageProcessor,
    encoder: ConversationEncoder,
    max_positions: Option<usize>,
    device: Device,
}

impl Qwen2VlConversations {
    /// Loads the checkpoint in `folder` from its checked `weight_files` (shards, then the value
    /// head) onto `device` in `dtype`, with its `preprocessor_config.json`, `tokenizer.json` and
    /// chat template.
    pub fn load(
        folder: &Path,
        weight_files: &[PathBuf],
        dtype: DType,
        device: &Device,
    ) -> Result<Qwen2VlConversations, LocalJudgeError> {
        let model = Qwen2VlRewardModel::load_files(folder, weight_files, dtype, device)?;
        let processor = Qwen2VlImageProcessor::load(folder)?;
        if processor.merge_size as usize != model.merge_size() {
            return Err(LocalJudgeError::Config {
                file: PathBuf::from("preprocessor_config.json"),
                field: "merge_size".to_owned(),
                message: format!(
                    "{} differs from the vision tower's spatial_merge_size {}",
                    processor.merge_size,
                    model.merge_size()
                ),
            });
        }
        let video_processor = Qwen2VlImageProcessor::load_for_video(folder)?;
        let encoder = ConversationEncoder::load(folder)?;
        let config: Value = std::fs::read_to_string(folder.join("config.json"))
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or(Value::Null);
        // The language model's position table, nested in `text_config` or at the top.
        let max_positions = config
            .get("text_config")
            .and_then(|text| text.get("max_position_embeddings"))
            .or_else(|| config.get("max_position_embeddings"))
            .and_then(Value::as_u64)
            .and_then(|positions| usize::try_from(positions).ok());
        Ok(Qwen2VlConversations {
            model,
            processor,
            video_processor,
            encoder,
            max_positions,
            device: device.clone(),
        })
    }

    /// The most tokens the language model's positions allow, if the config states it.
    pub fn max_positions(&self) -> Option<usize> {
        self.max_positions
    }

    /// One reward per conversation, in input order. `groups` lists conversations that should
    /// share a batch (a sample's two); `progress` is called with the number scored after each
    /// batch.
    pub fn score(
        &self,
        conversations: &[Conversation],
        groups: &[Vec<usize>],
        limits: ConversationLimits,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, LocalJudgeError> {
        let mut prompts = Vec::with_capacity(conversations.len());
        let mut grids = Vec::with_capacity(conversations.len());
        for (index, conversation) in conversations.iter().enumerate() {
            let own = conversation
                .media
                .iter()
                .map(|media| self.grid_of(media))
                .collect::<Result<Vec<_>, _>>()?;
            let prompt = self.encoder.encode(
                &conversation.system,
                &conversation.text,
                &own,
                self.model.merge_size(),
                &conversation.response,
            )?;
            let prompt = fit(prompt, self.model.vision_tokens(), limits).map_err(|message| {
                LocalJudgeError::Input {
                    message: format!("conversation {index}: {message}"),
                }
            })?;
            prompts.push(prompt);
            grids.push(own);
        }
        let lengths: Vec<usize> = prompts
            .iter()
            .map(|prompt| prompt.input_ids.len())
            .collect();
        in_batches(&lengths, groups, limits.batch_tokens, progress, |batch| {
            let expected: Vec<MediaGrid> = batch
                .iter()
                .flat_map(|&index| grids[index].iter().copied())
                .collect();
            // Each item through its own settings (images and videos may differ), in prompt
            // order, then the items of one prompt in placeholder order.
            let mut patches = VisualPatches::default();
            for &index in batch {
                for media in &conversations[index].media {
                    let processor = match media {
                        ConversationMedia::Image(_) | ConversationMedia::Audio(_) => {
                            &self.processor
                        }
                        ConversationMedia::Video { .. } => &self.video_processor,
                    };
                    patches.append(processor.preprocess_media(&[media.input()?])?)?;
                }
            }
            let pixel_values = if expected.is_empty() {
                None
            } else {
                if patches.media() != expected {
                    return Err(LocalJudgeError::Input {
                        message: format!(
                            "the processor gave grids {:?} where the prompts were built for {:?}",
                            patches.grids,
                            expected.iter().map(|media| media.grid).collect::<Vec<_>>()
                        ),
                    });
                }
                let rows = patches.rows();
                Some(
                    Tensor::from_vec(patches.pixel_values, (rows, patches.features), &self.device)
                        .map_err(LocalJudgeError::model("moving the media patches"))?,
                )
            };
            let batch_prompts: Vec<VisualPrompt> =
                batch.iter().map(|&index| prompts[index].clone()).collect();
            let (_, values) =
                self.model
                    .forward(&batch_prompts, pixel_values.as_ref(), &expected)?;
            Ok(values)
        })
    }

    /// The `[temporal patches, rows, columns]` grid and kind the processor gives `media`, from
    /// its size and frame count alone (a still image is one temporal patch; a video's frames
    /// are padded to whole temporal patches, all sized as its first frame).
    fn grid_of(&self, media: &ConversationMedia) -> Result<MediaGrid, LocalJudgeError> {
        let (processor, first, temporal, kind) = match media {
            ConversationMedia::Image(image) => (&self.processor, image, 1, MediaKind::Image),
            ConversationMedia::Audio(_) => return Err(audio_refused()),
            ConversationMedia::Video {
                frames,
                frames_per_second,
            } => {
                let first = frames.first().ok_or_else(|| LocalJudgeError::Input {
                    message: "a video without frames".to_owned(),
                })?;
                if !(frames_per_second.is_finite() && *frames_per_second > 0.0) {
                    return Err(LocalJudgeError::Input {
                        message: format!(
                            "a video sampled at {frames_per_second} frames per second"
                        ),
                    });
                }
                let patch = self.video_processor.temporal_patch_size as usize;
                let seconds_per_grid =
                    f64::from(self.video_processor.temporal_patch_size) / frames_per_second;
                (
                    &self.video_processor,
                    first,
                    frames.len().div_ceil(patch.max(1)),
                    MediaKind::Video { seconds_per_grid },
                )
            }
        };
        let (height, width) = (first.height(), first.width());
        let (height, width) = if processor.do_resize {
            processor.target_size(height, width)?
        } else {
            (height, width)
        };
        let patch = processor.patch_size;
        Ok(MediaGrid {
            grid: [
                temporal,
                (height / patch) as usize,
                (width / patch) as usize,
            ],
            kind,
        })
    }
}

/// `prompt` cut to `limits.max_length` tokens on the truncation side, when the cut leaves every
/// image whole (its start, placeholders and end); else why not.
fn fit(
    mut prompt: VisualPrompt,
    tokens: VisionTokens,
    limits: ConversationLimits,
) -> Result<VisualPrompt, String> {
    let length = prompt.input_ids.len();
    if length <= limits.max_length {
        return Ok(prompt);
    }
    let is_media = |id: &u32| [tokens.image, tokens.video, tokens.start, tokens.end].contains(id);
    let refused = || {
        format!(
            "{length} tokens exceed the limit of {} and the cut would split an image; raise \
             --max-length or lower the checkpoint's max_pixels",
            limits.max_length
        )
    };
    match limits.truncation {
        TruncationSide::Right => {
            if prompt
                .input_ids
                .iter()
                .rposition(is_media)
                .is_some_and(|last| last >= limits.max_length)
            {
                return Err(refused());
            }
            prompt.input_ids.truncate(limits.max_length);
        }
        TruncationSide::Left => {
            let cut = length - limits.max_length;
            if prompt
                .input_ids
                .iter()
                .position(is_media)
                .is_some_and(|first| first < cut)
            {
                return Err(refused());
            }
            prompt.input_ids.drain(..cut);
        }
    }
    Ok(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENS: VisionTokens = VisionTokens {
        image: 9,
        video: 6,
        start: 8,
        end: 7,
    };

    fn limits(max_length: usize, truncation: TruncationSide) -> ConversationLimits {
        ConversationLimits {
            max_length,
            truncation,
            batch_tokens: 1024,
        }
    }

    fn prompt(ids: &[u32]) -> VisualPrompt {
        VisualPrompt {
            input_ids: ids.to_vec(),
            media: ids.iter().filter(|id| **id == TOKENS.image).count().min(1),
        }
    }

    #[test]
    fn long_conversations_are_cut_only_outside_their_images() {
        let ids = [1, 8, 9, 9, 7, 2, 3, 4, 5];
        let right = fit(prompt(&ids), TOKENS, limits(6, TruncationSide::Right)).expect("cut");
        assert_eq!(right.input_ids, [1, 8, 9, 9, 7, 2]);
        let refused = fit(prompt(&ids), TOKENS, limits(4, TruncationSide::Right))
            .expect_err("splits the image");
        assert!(
            refused.contains("9 tokens exceed the limit of 4"),
            "{refused}"
        );
        let left = fit(prompt(&ids), TOKENS, limits(8, TruncationSide::Left)).expect("cut");
        assert_eq!(left.input_ids, [8, 9, 9, 7, 2, 3, 4, 5]);
        assert!(fit(prompt(&ids), TOKENS, limits(7, TruncationSide::Left)).is_err());
        let short = fit(prompt(&ids), TOKENS, limits(9, TruncationSide::Left)).expect("fits");
        assert_eq!(short.input_ids, ids);
        let text = fit(prompt(&[1, 2, 3]), TOKENS, limits(2, TruncationSide::Left)).expect("cut");
        assert_eq!(text.input_ids, [2, 3]);
    }
}
