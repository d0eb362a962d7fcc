//! `Qwen2ForSequenceClassification` (Qwen2 and Qwen2.5 reward models): the shared causal decoder
//! of [`super::decoder`] with biases on the query, key and value projections, and the `score`
//! head.
//!
//! Deviation from candle-transformers' `qwen2`: its `Config` requires `sliding_window` and
//! `max_window_layers`, which Qwen2.5 checkpoints saved by recent `transformers` set to null or
//! leave out; this file reads only what the model uses, with `transformers`' defaults, and
//! refuses sliding-window layers (no Qwen2.5 checkpoint enables them).

use serde::Deserialize;

use super::SequenceRewardModel;
use super::decoder::{
    DecoderForSequenceClassification, DecoderSettings, check_activation, check_full_attention,
    inverse_frequencies,
};
use super::layers::{ModelSource, parse_config};
use crate::error::LocalJudgeError;

/// `Qwen2ForSequenceClassification`: `model.*` + `score`.
pub type Qwen2ForSequenceClassification = DecoderForSequenceClassification;

fn default_rope_theta() -> f64 {
    10_000.0
}

fn default_rms_norm_eps() -> f64 {
    1e-6
}

fn default_hidden_act() -> String {
    "silu".to_owned()
}

/// The fields of a Qwen2 `config.json` the model uses.
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
    #[serde(default = "default_hidden_act")]
    hidden_act: String,
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config: Config = parse_config(&source)?;
    check_activation(&source, &config.hidden_act)?;
    check_full_attention(&source)?;
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
        qkv_bias: true,
        output_bias: false,
        mlp_bias: false,
        qk_norm: false,
        inverse_frequencies: inverse_frequencies(&source, config.rope_theta, head_dim)?,
        max_position_embeddings: config.max_position_embeddings,
    };
    let model: Qwen2ForSequenceClassification =
        DecoderForSequenceClassification::load(source, &settings)?;
    Ok(Box::new(model))
}
