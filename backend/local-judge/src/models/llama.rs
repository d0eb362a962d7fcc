//! `LlamaForSequenceClassification` (Llama 2 and 3 reward models, e.g. Skywork-Reward-Llama-3.1):
//! the shared causal decoder of [`super::decoder`] with optional `attention_bias` and `mlp_bias`,
//! Llama 3's `rope_scaling`, and the `score` head.
//!
//! Deviation from candle-transformers' `llama`: its forward returns only language-model logits
//! at the last position of the padded batch and keeps masks and KV cache in a mutable `Cache`,
//! and it reads no `head_dim`, `attention_bias` or `mlp_bias`; the shared decoder returns hidden
//! states at each row's last real token.

use super::SequenceRewardModel;
use super::decoder::{DecoderConfig, DecoderForSequenceClassification, DecoderLayout, load_family};
use super::layers::ModelSource;
use crate::error::LocalJudgeError;

/// `LlamaForSequenceClassification`: `model.*` + `score`.
pub type LlamaForSequenceClassification = DecoderForSequenceClassification;

/// Builds the model: `attention_bias` on all four attention projections, `mlp_bias` on the MLP,
/// the head size from `head_dim` or derived; Llama configs have no sliding windows.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    load_family(source, layout)
}

/// The family's switches over the shared decoder (the causal language model of
/// [`crate::generation`] uses them too).
pub fn layout(config: &DecoderConfig) -> DecoderLayout {
    DecoderLayout {
        head_dim: config.head_dim_or_derived(),
        qkv_bias: config.attention_bias,
        output_bias: config.attention_bias,
        mlp_bias: config.mlp_bias,
        qk_norm: false,
        refuses_sliding_window: false,
    }
}
