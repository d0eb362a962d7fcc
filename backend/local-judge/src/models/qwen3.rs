//! `Qwen3ForSequenceClassification` (Qwen3 reward models): the shared causal decoder of
//! [`super::decoder`] with RMSNorm over each query and key head before the rotation, an explicit
//! `head_dim` (heads × head_dim may differ from the hidden size), optional `attention_bias` on all
//! four projections, and the `score` head.
//!
//! Deviation from candle-transformers' `qwen3`: its `Config` requires `sliding_window`,
//! `max_window_layers` and `use_sliding_window`, and its attention keeps a KV cache; the shared
//! [`DecoderConfig`](super::decoder::DecoderConfig) reads only what the model uses, with
//! `transformers`' defaults.

use super::SequenceRewardModel;
use super::decoder::{DecoderConfig, DecoderForSequenceClassification, DecoderLayout, load_family};
use super::layers::ModelSource;
use crate::error::LocalJudgeError;

/// `Qwen3ForSequenceClassification`: `model.*` + `score`.
pub type Qwen3ForSequenceClassification = DecoderForSequenceClassification;

/// `Qwen3Config.head_dim`'s default (not derived from the hidden size, unlike Llama and Qwen2).
const DEFAULT_HEAD_DIM: usize = 128;

/// Builds the model: per-head q/k norms, `attention_bias` on all four attention projections.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    load_family(source, layout)
}

/// The family's switches over the shared decoder (the causal language model of
/// [`crate::generation`] uses them too).
pub fn layout(config: &DecoderConfig) -> DecoderLayout {
    DecoderLayout {
        head_dim: config.head_dim.unwrap_or(DEFAULT_HEAD_DIM),
        qkv_bias: config.attention_bias,
        output_bias: config.attention_bias,
        mlp_bias: false,
        qk_norm: true,
        refuses_sliding_window: true,
    }
}
