//! `Qwen2ForSequenceClassification` (Qwen2 and Qwen2.5 reward models): the shared causal decoder
//! of [`super::decoder`] with biases on the query, key and value projections, and the `score`
//! head.
//!
//! Deviation from candle-transformers' `qwen2`: its `Config` requires `sliding_window` and
//! `max_window_layers`, which Qwen2.5 checkpoints saved by recent `transformers` set to null or
//! leave out; the shared [`DecoderConfig`](super::decoder::DecoderConfig) reads only what the
//! model uses, with `transformers`' defaults, and sliding-window layers are refused (no Qwen2.5
//! checkpoint enables them).

use super::SequenceRewardModel;
use super::decoder::{DecoderConfig, DecoderForSequenceClassification, DecoderLayout, load_family};
use super::layers::ModelSource;
use crate::error::LocalJudgeError;

/// `Qwen2ForSequenceClassification`: `model.*` + `score`.
pub type Qwen2ForSequenceClassification = DecoderForSequenceClassification;

/// Builds the model: biases on the query, key and value projections only (Qwen2 has no
/// `attention_bias` switch), the head size from `head_dim` or derived.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    load_family(source, layout)
}

/// The family's switches over the shared decoder (the causal language model of
/// [`crate::generation`] uses them too).
pub fn layout(config: &DecoderConfig) -> DecoderLayout {
    DecoderLayout {
        head_dim: config.head_dim_or_derived(),
        qkv_bias: true,
        output_bias: false,
        mlp_bias: false,
        qk_norm: false,
        refuses_sliding_window: true,
    }
}
