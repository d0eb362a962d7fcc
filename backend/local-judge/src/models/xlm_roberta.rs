//! `XLMRobertaForSequenceClassification`: candle-transformers' `xlm_roberta` model of the same
//! name (`roberta.*` backbone; `classifier.dense`, tanh and `classifier.out_proj` on the first
//! token, `<s>`). The reward is the logit of the chosen label.
//!
//! As in `transformers`, position ids start at `padding_idx + 1` and skip padding (they are the
//! running count of non-pad tokens, offset by the pad id), so a checkpoint with
//! `max_position_embeddings = 514` and pad id 1 reads at most 512 tokens; padding is masked out of
//! attention, so rewards do not depend on the padding of a batch.
//!
//! Deviations from candle-transformers: none in the computation. Its `Config` requires fields
//! that `transformers` has defaults for, which get those defaults here; it ignores
//! `position_embedding_type`, so a checkpoint with relative positions is refused rather than
//! scored wrongly. Its attention mask is built in f32 (`f32::MIN`), which is why the encoder
//! families run in f32 on every device ([`crate::device::dtype_for`]).

use candle_core::Tensor;
use candle_transformers::models::xlm_roberta::{
    Config, XLMRobertaForSequenceClassification as Classifier,
};
use serde_json::Value;

use super::bert::{config_with_defaults, reward_column, reward_index};
use super::{ModelSource, SequenceRewardModel};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// `XLMRobertaForSequenceClassification`: `roberta.*` + `classifier.{dense,out_proj}`.
pub struct XLMRobertaForSequenceClassification {
    model: Classifier,
    reward_index: usize,
    max_positions: usize,
}

impl SequenceRewardModel for XLMRobertaForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let logits =
            self.model
                .forward(&batch.input_ids, &batch.attention_mask, &batch.type_ids)?;
        reward_column(&logits, self.reward_index)
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }
}

/// The `transformers` defaults of the `XLMRobertaConfig` fields candle's `Config` requires.
fn defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("vocab_size", Value::from(30_522)),
        ("hidden_size", Value::from(768)),
        ("num_hidden_layers", Value::from(12)),
        ("num_attention_heads", Value::from(12)),
        ("intermediate_size", Value::from(3072)),
        ("hidden_act", Value::from("gelu")),
        ("hidden_dropout_prob", Value::from(0.1)),
        ("attention_probs_dropout_prob", Value::from(0.1)),
        ("max_position_embeddings", Value::from(512)),
        ("type_vocab_size", Value::from(2)),
        ("layer_norm_eps", Value::from(1e-12)),
        ("pad_token_id", Value::from(1)),
        ("position_embedding_type", Value::from("absolute")),
    ]
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config_error = |field: &str, message: String| LocalJudgeError::Config {
        file: source.config_file.to_path_buf(),
        field: field.to_owned(),
        message,
    };
    let config = config_with_defaults(source.config, &defaults());
    let position_type = config
        .get("position_embedding_type")
        .and_then(Value::as_str)
        .unwrap_or("absolute");
    if position_type != "absolute" {
        return Err(config_error(
            "position_embedding_type",
            format!("{position_type:?} positions are not supported (absolute only)"),
        ));
    }
    let config: Config = serde_json::from_value(config)
        .map_err(|error| config_error("(config)", error.to_string()))?;
    let (labels, reward_index) = reward_index(&source)?;
    // Positions 0..=padding_idx are never used: real tokens start at padding_idx + 1.
    let offset = config.pad_token_id as usize + 1;
    let max_positions = config
        .max_position_embeddings
        .checked_sub(offset)
        .filter(|positions| *positions > 0)
        .ok_or_else(|| {
            config_error(
                "max_position_embeddings",
                format!(
                    "{} positions leave no room for tokens after the padding index {}",
                    config.max_position_embeddings, config.pad_token_id
                ),
            )
        })?;
    let model = Classifier::new(labels, &config, source.weights.clone()).map_err(
        LocalJudgeError::model("loading XLMRobertaForSequenceClassification"),
    )?;
    Ok(Box::new(XLMRobertaForSequenceClassification {
        model,
        reward_index,
        max_positions,
    }))
}
