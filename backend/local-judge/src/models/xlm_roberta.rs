//! `XLMRobertaForSequenceClassification`: the `roberta.*` backbone, which is BERT's layers with
//! RoBERTa's position numbering ([`BertEncoder`] with [`PositionIds::AfterPadding`]; the
//! computation of candle-transformers' `xlm_roberta`, with a choice of `Kernels` so that every
//! weight can be trained), then `classifier.dense`, tanh and `classifier.out_proj` on the first
//! token, `<s>`. The reward is the logit of the chosen label.
//!
//! As in `transformers`, position ids start at `padding_idx + 1` and skip padding (they are the
//! running count of non-pad tokens, offset by the pad id), so a checkpoint with
//! `max_position_embeddings = 514` and pad id 1 reads at most 512 tokens; padding is masked out of
//! attention, so rewards do not depend on the padding of a batch.
//!
//! Deviations from candle-transformers: none in the computation. Fields `transformers` has
//! defaults for get those defaults here; `position_embedding_type` other than absolute is
//! refused rather than scored wrongly; the activations are BERT's (`gelu`, its tanh
//! approximations, `relu`), others refused by name. The attention mask is finite in every dtype
//! (`bert_encoder::additive_mask`); the encoder families still run in f32 on every device
//! ([`crate::device::dtype_for`]) until a GPU run measures their bf16 rewards and speed.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, linear};
use serde_json::Value;

use super::SequenceRewardModel;
use super::bert::bert_config_with_defaults;
use super::bert_encoder::{BertEncoder, PositionIds};
use super::layers::{ModelSource, config_error, reward_column, reward_index};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// `XLMRobertaForSequenceClassification`: `roberta.*` + `classifier.{dense,out_proj}`.
pub struct XLMRobertaForSequenceClassification {
    roberta: BertEncoder,
    dense: Linear,
    out_proj: Linear,
    reward_index: usize,
    max_positions: usize,
}

impl SequenceRewardModel for XLMRobertaForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let first = self.roberta.first_token_states(
            &batch.input_ids,
            &batch.type_ids,
            &batch.attention_mask,
        )?;
        let logits = self
            .out_proj
            .forward(&self.dense.forward(&first)?.tanh()?)?;
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
        ("initializer_range", Value::from(0.02)),
        ("layer_norm_eps", Value::from(1e-12)),
        ("pad_token_id", Value::from(1)),
        ("position_embedding_type", Value::from("absolute")),
    ]
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let position_type = source
        .config
        .get("position_embedding_type")
        .and_then(Value::as_str)
        .unwrap_or("absolute");
    if position_type != "absolute" {
        return Err(config_error(
            source.config_file,
            "position_embedding_type",
            format!("{position_type:?} positions are not supported (absolute only)"),
        ));
    }
    let config = bert_config_with_defaults(&source, &defaults())?;
    let (labels, reward_index) = reward_index(&source)?;
    // Positions 0..=padding_idx are never used: real tokens start at padding_idx + 1.
    let offset = config.pad_token_id + 1;
    let max_positions = config
        .max_position_embeddings
        .checked_sub(offset)
        .filter(|positions| *positions > 0)
        .ok_or_else(|| {
            config_error(
                source.config_file,
                "max_position_embeddings",
                format!(
                    "{} positions leave no room for tokens after the padding index {}",
                    config.max_position_embeddings, config.pad_token_id
                ),
            )
        })?;
    let padding = u32::try_from(config.pad_token_id).map_err(|_| {
        config_error(
            source.config_file,
            "pad_token_id",
            format!("{} is too large", config.pad_token_id),
        )
    })?;
    let build = || -> candle_core::Result<XLMRobertaForSequenceClassification> {
        let weights = &source.weights;
        let hidden = config.hidden_size;
        Ok(XLMRobertaForSequenceClassification {
            roberta: BertEncoder::load(
                weights.pp("roberta"),
                &config,
                source.kernels,
                PositionIds::AfterPadding(padding),
            )?,
            dense: linear(hidden, hidden, weights.pp("classifier.dense"))?,
            out_proj: linear(hidden, labels, weights.pp("classifier.out_proj"))?,
            reward_index,
            max_positions,
        })
    };
    let model = build().map_err(LocalJudgeError::model(
        "loading XLMRobertaForSequenceClassification",
    ))?;
    Ok(Box::new(model))
}
