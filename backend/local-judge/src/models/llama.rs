//! `LlamaForSequenceClassification` (Llama 2 and 3 reward models, e.g. Skywork-Reward-Llama-3.1):
//! the shared causal decoder of [`super::decoder`] with optional `attention_bias` and `mlp_bias`,
//! Llama 3's `rope_scaling`, and the `score` head.
//!
//! Deviation from candle-transformers' `llama`: its forward returns only language-model logits
//! at the last position of the padded batch and keeps masks and KV cache in a mutable `Cache`,
//! and it reads no `head_dim`, `attention_bias` or `mlp_bias`; the shared decoder returns hidden
//! states at each row's last real token.

use serde::Deserialize;

use super::SequenceRewardModel;
use super::decoder::{
    DecoderForSequenceClassification, DecoderSettings, check_activation, inverse_frequencies,
};
use super::layers::{ModelSource, parse_config};
use crate::error::LocalJudgeError;

/// `LlamaForSequenceClassification`: `model.*` + `score`.
pub type LlamaForSequenceClassification = DecoderForSequenceClassification;

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_hidden_act() -> String {
    "silu".to_owned()
}

/// The fields of a Llama `config.json` the model uses.
#[derive(Debug, Deserialize)]
struct Config {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    max_position_embeddings: usize,
    #[serde(default = "default_rope_theta")]
    rope_theta: f64,
    #[serde(default = "default_rms_norm_eps")]
    rms_norm_eps: f64,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config: Config = parse_config(&source)?;
    check_activation(&source, &config.hidden_act)?;
    let head_dim = config
        .head_dim
        .unwrap_or(config.hidden_size / config.num_attention_heads.max(1));
    let settings = DecoderSettings {
        vocab_size: config.vocab_size,
        hidden_size: config.hidden_size,
        intermediate_size: config.intermediate_size,
        num_hidden_layers: config.num_hidden_layers,
        num_attention_heads: config.num_attention_heads,
        num_key_value_heads: config
            .num_key_value_heads
            .unwrap_or(config.num_attention_heads),
        head_dim,
        rms_norm_eps: config.rms_norm_eps,
        qkv_bias: config.attention_bias,
        output_bias: config.attention_bias,
        mlp_bias: config.mlp_bias,
        qk_norm: false,
        inverse_frequencies: inverse_frequencies(&source, config.rope_theta, head_dim)?,
        max_position_embeddings: config.max_position_embeddings,
    };
    let model: LlamaForSequenceClassification =
        DecoderForSequenceClassification::load(source, &settings)?;
    Ok(Box::new(model))
}
