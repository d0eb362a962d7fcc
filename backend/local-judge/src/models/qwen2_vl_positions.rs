//! The 3-D rotary positions (M-RoPE) of Qwen2-VL and Qwen2.5-VL prompts, as `transformers`
//! 4.57.3's `get_rope_index` gives them, and the rotary tables built from them.
//!
//! Text counts up on all three axes. An image's or video's tokens sit at (time, row, column) of
//! its merged grid, offset by the position where it starts; text after it continues at the
//! largest position so far + 1. Time is the temporal patch's index in Qwen2-VL; in Qwen2.5-VL it
//! is `index × second_per_grid_t × tokens_per_second` (`tokens_per_second` from the checkpoint's
//! `vision_config`), where 4.57.3 first casts `second_per_grid_t` to an integer (2.5 s per
//! temporal patch counts as 2): this module does the same, for parity with the pinned version.
//!
//! While generating, a new token's position is the same on all three axes: its index in the
//! sequence plus the sequence's `rope_delta` (the prompt's largest position + 1 − its length),
//! which is kept per sequence.
//!
//! Each rotary channel `j` of a head's first half takes its angle from the axis its
//! `mrope_section` assigns (the sections in order: time, rows, columns), in f32; `rope` repeats
//! the half for the second half of the head.

use candle_core::{Device, Tensor};

use crate::qwen2_vl_processor::{MediaGrid, MediaKind};

/// The token ids a prompt marks images and videos with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VisionTokens {
    /// `<|image_pad|>`: one per merged patch of an image.
    pub image: u32,
    /// `<|video_pad|>`: one per merged patch of a video.
    pub video: u32,
    /// `<|vision_start|>`.
    pub start: u32,
    /// `<|vision_end|>`.
    pub end: u32,
}

/// How a video's temporal patches are placed in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TimePositions {
    /// Qwen2-VL: the temporal patch's index.
    FrameIndex,
    /// Qwen2.5-VL: the temporal patch's start in seconds × `tokens_per_second`.
    Seconds {
        /// `vision_config.tokens_per_second`.
        tokens_per_second: f64,
    },
}

/// Everything positions and rotary tables depend on.
#[derive(Clone, Debug, PartialEq)]
pub struct MultimodalRope {
    /// The media tokens.
    pub tokens: VisionTokens,
    /// Patches merged into one token along each side.
    pub merge_size: usize,
    /// Time positions of videos.
    pub time: TimePositions,
    /// The rotary channels (of a head's first half) each axis takes: time, rows, columns.
    pub mrope_section: [usize; 3],
    /// The rotary frequencies of a head's first half.
    pub inverse_frequencies: Vec<f32>,
}

impl MultimodalRope {
    /// Per token of `input_ids`, its (time, row, column) position. `media` are the prompt's
    /// images and videos in the order their placeholders appear; each placeholder must be as
    /// many image or video tokens as its item has merged patches.
    pub fn positions(
        &self,
        input_ids: &[u32],
        media: &[MediaGrid],
    ) -> Result<Vec<[u32; 3]>, String> {
        let merge = self.merge_size;
        let mut positions = Vec::with_capacity(input_ids.len());
        let mut next = 0_u32;
        let mut items = media.iter().enumerate();
        let mut index = 0;
        while index < input_ids.len() {
            let id = input_ids[index];
            if id != self.tokens.image && id != self.tokens.video {
                positions.push([next; 3]);
                next += 1;
                index += 1;
                continue;
            }
            let is_video = id == self.tokens.video;
            let what = if is_video { "video" } else { "image" };
            let (number, item) = items.next().ok_or_else(|| {
                format!(
                    "{what} tokens at position {index} with no {what} left (the prompt's media \
                     are {} items)",
                    media.len()
                )
            })?;
            let seconds_per_grid = match (item.kind, is_video) {
                (MediaKind::Image, false) => 0.0,
                (MediaKind::Video { seconds_per_grid }, true) => seconds_per_grid,
                _ => {
                    return Err(format!(
                        "{what} tokens at position {index}, but media item {number} is not a \
                         {what} (media must come in the order of their placeholders)"
                    ));
                }
            };
            let [frames, height, width] = item.grid;
            let (rows, columns) = (height / merge, width / merge);
            let count = frames * rows * columns;
            let run = input_ids[index..]
                .iter()
                .take_while(|token| **token == id)
                .count();
            if run != count {
                return Err(format!(
                    "{run} {what} tokens at position {index} where media item {number} has \
                     {count} merged patches"
                ));
            }
            let start = next;
            let mut largest = start;
            for frame in 0..frames {
                let time = match self.time {
                    TimePositions::FrameIndex => frame as u32,
                    // `torch.as_tensor(second_per_grid_t, dtype=int64)`: truncated first.
                    TimePositions::Seconds { tokens_per_second } => {
                        (frame as f64 * seconds_per_grid.trunc() * tokens_per_second).trunc() as u32
                    }
                };
                for row in 0..rows {
                    for column in 0..columns {
                        let position = [start + time, start + row as u32, start + column as u32];
                        largest = largest.max(position[0]).max(position[1]).max(position[2]);
                        positions.push(position);
                    }
                }
            }
            index += count;
            next = largest + 1;
        }
        if let Some((number, _)) = items.next() {
            return Err(format!(
                "the prompt has placeholders for {number} of its {} media items",
                media.len()
            ));
        }
        Ok(positions)
    }

    /// The offset of generated tokens' positions: the prompt's largest position + 1 − its
    /// length (`transformers`' `rope_deltas`).
    pub fn rope_delta(positions: &[[u32; 3]]) -> i64 {
        let largest = positions
            .iter()
            .flat_map(|position| position.iter().copied())
            .max()
            .map_or(-1, i64::from);
        largest + 1 - positions.len() as i64
    }

    /// `cos` and `sin` `[rows, length, head_dim / 2]` in f32 for `positions` (row-major, `rows ×
    /// length`): channel `j` takes the axis its section assigns and the frequency `j`.
    pub fn tables(
        &self,
        positions: &[[u32; 3]],
        rows: usize,
        length: usize,
        device: &Device,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inverse_frequencies.len();
        if positions.len() != rows * length {
            candle_core::bail!(
                "{} positions for {rows} rows of {length} tokens",
                positions.len()
            );
        }
        let axes: Vec<usize> = (0..3)
            .flat_map(|axis| std::iter::repeat_n(axis, self.mrope_section[axis]))
            .collect();
        if axes.len() != half {
            candle_core::bail!(
                "mrope_section {:?} does not cover the {half} rotary frequencies",
                self.mrope_section
            );
        }
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for position in positions {
            for (channel, frequency) in self.inverse_frequencies.iter().enumerate() {
                let angle = position[axes[channel]] as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok((
            Tensor::from_vec(cos, (rows, length, half), device)?,
            Tensor::from_vec(sin, (rows, length, half), device)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rope(time: TimePositions) -> MultimodalRope {
        MultimodalRope {
            tokens: VisionTokens {
                image: 500,
                video: 501,
                start: 502,
                end: 503,
            },
            merge_size: 2,
            time,
            mrope_section: [1, 1, 1],
            inverse_frequencies: vec![1.0, 0.5, 0.25],
        }
    }

    #[test]
    fn video_time_is_the_frame_index_or_truncated_seconds_times_tokens_per_second() {
        // Text, a video of 2 temporal patches of 1 x 2 merged tokens, text.
        let ids = [7, 502, 501, 501, 501, 501, 503, 8];
        let video = [MediaGrid {
            grid: [2, 2, 4],
            kind: MediaKind::Video {
                seconds_per_grid: 2.5,
            },
        }];
        let plain = rope(TimePositions::FrameIndex)
            .positions(&ids, &video)
            .expect("positions");
        assert_eq!(
            plain,
            vec![
                [0, 0, 0],
                [1, 1, 1],
                [2, 2, 2],
                [2, 2, 3],
                [3, 2, 2],
                [3, 2, 3],
                [4, 4, 4],
                [5, 5, 5]
            ]
        );
        let seconds = rope(TimePositions::Seconds {
            tokens_per_second: 2.0,
        })
        .positions(&ids, &video)
        .expect("positions");
        // 2.5 s counts as 2 (as transformers 4.57.3 casts it), × 2 tokens per second = 4.
        assert_eq!(seconds[4], [6, 2, 2]);
        assert_eq!(seconds[6], [7, 7, 7]);
        assert_eq!(MultimodalRope::rope_delta(&seconds), 9 - 8);
    }

    #[test]
    fn media_must_match_their_placeholders() {
        let rope = rope(TimePositions::FrameIndex);
        let image = MediaGrid {
            grid: [1, 2, 2],
            kind: MediaKind::Image,
        };
        let error = rope.positions(&[501], &[image]).expect_err("kind");
        assert!(error.contains("not a video"), "{error}");
        let error = rope.positions(&[500, 500], &[image]).expect_err("count");
        assert!(error.contains("2 image tokens"), "{error}");
        let error = rope.positions(&[1, 2], &[image]).expect_err("unused");
        assert!(error.contains("placeholders for 0"), "{error}");
    }
}
