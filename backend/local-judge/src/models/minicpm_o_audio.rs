//! MiniCPM-o 2.6's audio path: the Whisper encoder (`apm.*`), run in block-causal chunks, then
//! the audio projection (`audio_projection_layer.*`: Linear → ReLU → Linear into the language
//! model's width) and an average pool over pairs of frames. One clip's log-mel features
//! ([`crate::whisper_features`], cut to the clip's frames) become its audio embeddings, one per
//! 40 ms.
//!
//! The encoder is Whisper's: two convolutions (kernel 3; the second with stride 2, so 50 frames a
//! second) each followed by the exact GELU, learned positions, pre-norm blocks (attention whose
//! key projection has no bias, scaled by head size^-0.5; GELU feed-forward), a final layer norm.
//! MiniCPM-o adds an additive attention mask: frame i sees the frames of its own chunk and of
//! every earlier one (`audio_chunk_length` seconds per chunk, 1 s in the released config), as its
//! `subsequent_chunk_mask` builds with no left limit.
//!
//! Clips are encoded one at a time. The reference pads the clips of a batch to the longest and
//! builds its padding mask by comparing encoder positions with *mel-frame* counts (twice as
//! many), so it never masks padding: a shorter clip's last chunk would see the padding in a
//! batch. Alone, a clip has no padding, and its embeddings are what the reference computes for it
//! alone; batching here would change no output.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Conv1d, Conv1dConfig, Linear, VarBuilder};
use serde::Deserialize;

use super::clip::attend;
use super::kernels::{Kernels, LayerNorm};
use super::vectorised;
use crate::error::LocalJudgeError;

/// The encoder's settings: MiniCPM-o's `audio_config` (a `WhisperConfig`).
#[derive(Clone, Debug, Deserialize)]
pub struct AudioEncoderConfig {
    /// Width of the encoder.
    pub d_model: usize,
    /// Blocks.
    pub encoder_layers: usize,
    /// Attention heads per block.
    pub encoder_attention_heads: usize,
    /// Feed-forward width.
    pub encoder_ffn_dim: usize,
    /// Mel bins of the input features.
    #[serde(default = "default_mel_bins")]
    pub num_mel_bins: usize,
    /// Learned positions: encoder frames of 30 s.
    #[serde(default = "default_source_positions")]
    pub max_source_positions: usize,
}

fn default_mel_bins() -> usize {
    80
}

fn default_source_positions() -> usize {
    1500
}

/// Whisper's layer norms use PyTorch's default epsilon.
const LAYER_NORM_EPS: f64 = 1e-5;
/// Encoder frames per second of audio (100 mel frames, halved by the second convolution).
const ENCODER_FRAMES_PER_SECOND: f64 = 50.0;

struct EncoderBlock {
    attention_norm: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    feed_forward_norm: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl EncoderBlock {
    fn load(config: &AudioEncoderConfig, weights: VarBuilder<'_>) -> candle_core::Result<Self> {
        let width = config.d_model;
        let attention = weights.pp("self_attn");
        Ok(EncoderBlock {
            attention_norm: LayerNorm::load(
                width,
                LAYER_NORM_EPS,
                weights.pp("self_attn_layer_norm"),
                Kernels::Fused,
            )?,
            q_proj: candle_nn::linear(width, width, attention.pp("q_proj"))?,
            k_proj: candle_nn::linear_no_bias(width, width, attention.pp("k_proj"))?,
            v_proj: candle_nn::linear(width, width, attention.pp("v_proj"))?,
            out_proj: candle_nn::linear(width, width, attention.pp("out_proj"))?,
            feed_forward_norm: LayerNorm::load(
                width,
                LAYER_NORM_EPS,
                weights.pp("final_layer_norm"),
                Kernels::Fused,
            )?,
            fc1: candle_nn::linear(width, config.encoder_ffn_dim, weights.pp("fc1"))?,
            fc2: candle_nn::linear(config.encoder_ffn_dim, width, weights.pp("fc2"))?,
        })
    }

    fn forward(&self, hidden: &Tensor, heads: usize, mask: &Tensor) -> candle_core::Result<Tensor> {
        let normed = self.attention_norm.forward(hidden)?;
        let attended = attend(
            &self.q_proj.forward(&normed)?,
            &self.k_proj.forward(&normed)?,
            &self.v_proj.forward(&normed)?,
            heads,
            Some(mask),
            Kernels::Fused,
        )?;
        let hidden = (hidden + self.out_proj.forward(&attended)?)?;
        let normed = self.feed_forward_norm.forward(&hidden)?;
        let expanded = vectorised::gelu_erf(&self.fc1.forward(&normed)?)?;
        hidden + self.fc2.forward(&expanded)?
    }
}

/// The Whisper encoder, the projection and the pooling of a MiniCPM-o checkpoint.
pub struct MiniCpmOAudio {
    conv1: Conv1d,
    conv2: Conv1d,
    positions: Tensor,
    blocks: Vec<EncoderBlock>,
    final_norm: LayerNorm,
    projection_in: Linear,
    projection_out: Linear,
    heads: usize,
    mel_bins: usize,
    /// Encoder frames per attention chunk; `None`: full attention.
    chunk_frames: Option<usize>,
    device: Device,
}

impl std::fmt::Debug for MiniCpmOAudio {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MiniCpmOAudio")
            .field("blocks", &self.blocks.len())
            .field("chunk_frames", &self.chunk_frames)
            .finish_non_exhaustive()
    }
}

/// Audio tokens (pooled embeddings) of a clip of `mel_frames` feature frames: the reference's
/// `_get_feat_extract_output_lengths`.
pub fn audio_tokens(mel_frames: usize) -> usize {
    if mel_frames == 0 {
        return 0;
    }
    let encoder_frames = (mel_frames - 1) / 2 + 1;
    // A pool of two over fewer than two frames gives nothing (Python's floor division of −1).
    if encoder_frames < 2 {
        0
    } else {
        (encoder_frames - 2) / 2 + 1
    }
}

impl MiniCpmOAudio {
    /// Loads `apm.*` and `audio_projection_layer.*` from `weights` (the whole checkpoint's);
    /// `language_width` is the language model's hidden size; `chunk_seconds` is the config's
    /// `audio_chunk_length` (a value ≤ 0 means full attention).
    pub fn load(
        config: &AudioEncoderConfig,
        language_width: usize,
        chunk_seconds: f64,
        weights: VarBuilder<'_>,
    ) -> Result<MiniCpmOAudio, LocalJudgeError> {
        if config.encoder_attention_heads == 0
            || !config
                .d_model
                .is_multiple_of(config.encoder_attention_heads)
        {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "audio_config: d_model {} is not a multiple of encoder_attention_heads {}",
                    config.d_model, config.encoder_attention_heads
                ),
            });
        }
        let device = weights.device().clone();
        let load = || -> candle_core::Result<MiniCpmOAudio> {
            let encoder = weights.pp("apm");
            let width = config.d_model;
            let conv1 = candle_nn::conv1d(
                config.num_mel_bins,
                width,
                3,
                Conv1dConfig {
                    padding: 1,
                    ..Conv1dConfig::default()
                },
                encoder.pp("conv1"),
            )?;
            let conv2 = candle_nn::conv1d(
                width,
                width,
                3,
                Conv1dConfig {
                    padding: 1,
                    stride: 2,
                    ..Conv1dConfig::default()
                },
                encoder.pp("conv2"),
            )?;
            let positions = encoder
                .pp("embed_positions")
                .get((config.max_source_positions, width), "weight")?;
            let blocks = (0..config.encoder_layers)
                .map(|index| EncoderBlock::load(config, encoder.pp("layers").pp(index.to_string())))
                .collect::<candle_core::Result<Vec<_>>>()?;
            let final_norm = LayerNorm::load(
                width,
                LAYER_NORM_EPS,
                encoder.pp("layer_norm"),
                Kernels::Fused,
            )?;
            // The reference sizes the projection's input as encoder_ffn_dim / 4 (= d_model in
            // every Whisper), and reads the encoder's last hidden state.
            let projection = weights.pp("audio_projection_layer");
            let projection_in = candle_nn::linear(
                config.encoder_ffn_dim / 4,
                language_width,
                projection.pp("linear1"),
            )?;
            let projection_out =
                candle_nn::linear(language_width, language_width, projection.pp("linear2"))?;
            Ok(MiniCpmOAudio {
                conv1,
                conv2,
                positions,
                blocks,
                final_norm,
                projection_in,
                projection_out,
                heads: config.encoder_attention_heads,
                mel_bins: config.num_mel_bins,
                chunk_frames: (chunk_seconds > 0.0)
                    .then_some((chunk_seconds * ENCODER_FRAMES_PER_SECOND) as usize)
                    .filter(|frames| *frames > 0),
                device: device.clone(),
            })
        };
        load().map_err(LocalJudgeError::model(
            "loading the audio encoder (apm, audio_projection_layer)",
        ))
    }

    /// The additive mask: 0 where frame `query` may see frame `key` (same or earlier chunk),
    /// −∞ elsewhere.
    fn chunk_mask(&self, frames: usize) -> candle_core::Result<Tensor> {
        let mut mask = vec![0.0_f32; frames * frames];
        if let Some(chunk) = self.chunk_frames {
            for query in 0..frames {
                let visible_end = ((query / chunk + 1) * chunk).min(frames);
                for value in &mut mask[query * frames + visible_end..(query + 1) * frames] {
                    *value = f32::NEG_INFINITY;
                }
            }
        }
        Tensor::from_vec(mask, (1, 1, frames, frames), &self.device)
    }

    /// The encoder's final hidden states `[encoder frames, d_model]` for one clip's features
    /// `[mel bins, frames]` (row-major, `frames` columns).
    pub fn encode(&self, features: &[f32], frames: usize) -> Result<Tensor, LocalJudgeError> {
        let limit = self.positions.dim(0).unwrap_or(0) * 2;
        if frames == 0 || features.len() != self.mel_bins * frames || frames > limit {
            return Err(LocalJudgeError::Input {
                message: format!(
                    "audio features: {} values for {} mel bins × {frames} frames (1 to {limit} \
                     frames, 30 s, per clip)",
                    features.len(),
                    self.mel_bins
                ),
            });
        }
        let run = || -> candle_core::Result<Tensor> {
            let dtype = self.positions.dtype();
            let input = Tensor::from_slice(features, (1, self.mel_bins, frames), &self.device)?
                .to_dtype(dtype)?;
            let hidden = vectorised::gelu_erf(&self.conv1.forward(&input)?)?;
            let hidden = vectorised::gelu_erf(&self.conv2.forward(&hidden)?)?.transpose(1, 2)?;
            let encoder_frames = hidden.dim(1)?;
            let mut hidden =
                hidden.broadcast_add(&self.positions.narrow(0, 0, encoder_frames)?)?;
            let mask = self.chunk_mask(encoder_frames)?;
            for block in &self.blocks {
                hidden = block.forward(&hidden, self.heads, &mask)?;
            }
            self.final_norm.forward(&hidden)?.squeeze(0)
        };
        run().map_err(LocalJudgeError::model("encoding a clip's audio features"))
    }

    /// The clip's audio embeddings `[audio_tokens(frames), language width]`: the encoder, the
    /// projection, then the mean of each pair of frames (an odd last frame dropped).
    pub fn embed(&self, features: &[f32], frames: usize) -> Result<Tensor, LocalJudgeError> {
        let encoded = self.encode(features, frames)?;
        let run = || -> candle_core::Result<Tensor> {
            let projected = self
                .projection_out
                .forward(&self.projection_in.forward(&encoded)?.relu()?)?;
            let (length, width) = projected.dims2()?;
            let pairs = length / 2;
            let pooled = projected
                .narrow(0, 0, pairs * 2)?
                .reshape((pairs, 2, width))?
                .to_dtype(DType::F32)?
                .mean(D::Minus2)?
                .to_dtype(projected.dtype())?;
            pooled.narrow(0, 0, audio_tokens(frames).min(pairs))
        };
        run().map_err(LocalJudgeError::model("projecting a clip's audio"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_tokens_follow_the_reference_lengths() {
        // 1 s: 100 mel frames, 50 encoder frames, 25 tokens (one placeholder block per second).
        assert_eq!(audio_tokens(100), 25);
        assert_eq!(audio_tokens(300), 75);
        assert_eq!(audio_tokens(78), 19);
        assert_eq!(audio_tokens(2), 0);
        assert_eq!(audio_tokens(3), 1);
    }
}
