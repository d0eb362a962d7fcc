//! `BertForSequenceClassification`: the BERT encoder (`bert.embeddings`, `bert.encoder`;
//! [`BertEncoder`], candle-transformers' `bert` with a choice of kernels), the pooler `transformers` puts on it (`bert.pooler.dense` and tanh
//! on the `[CLS]` token) and the classifier (`classifier`, hidden → `num_labels`). The reward is
//! the logit of the chosen label ([`RewardLabel`](super::RewardLabel)).
//!
//! Positions are `0..len`, which is right for the right-padded batches of [`PaddedBatch`]; the
//! attention mask hides padding from every real token, so a row's reward does not depend on how
//! much padding its batch adds.
//!
//! Deviations from candle-transformers' `bert`, handled here before its `Config` parses:
//! - its `Config` requires fields that `transformers` has defaults for; missing ones get
//!   `transformers`' defaults (`config_with_defaults`);
//! - its activation names are its own (`gelu`, `geluapproximate`, `relu`): the tanh
//!   approximations `transformers` calls `gelu_new`, `gelu_pytorch_tanh` and `gelu_fast` are
//!   mapped to `geluapproximate`, anything else is refused by name;
//! - its attention mask is `f32::MIN` cast to the model's dtype, which turns into NaN in half
//!   precision (ours is finite in every dtype; the encoder families still run in f32 on every
//!   device, [`crate::device::dtype_for`], until a GPU run measures them in bf16).
//!
//! `bert_config` is shared with the other files over [`BertEncoder`] (`minilm`, `xlm_roberta`);
//! what every encoder head shares (label resolution, the reward column, activations) is in
//! [`super::layers`].

use candle_core::{Module, Tensor};
use candle_nn::{Linear, VarBuilder, linear};
use candle_transformers::models::bert::Config;
use serde_json::Value;

use super::SequenceRewardModel;
use super::bert_encoder::{BertEncoder, PositionIds};
use super::kernels::Kernels;
use super::layers::{
    ModelSource, config_error, config_with_defaults, parse_value, reward_column, reward_index,
};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// `BertForSequenceClassification`: `bert.*` + `bert.pooler.dense` + `classifier`.
pub struct BertForSequenceClassification {
    bert: BertEncoder,
    pooler: Linear,
    classifier: Linear,
    reward_index: usize,
    max_positions: usize,
}

impl BertForSequenceClassification {
    /// Loads the backbone, pooler and classifier from `weights`.
    pub fn new(
        config: &Config,
        num_labels: usize,
        reward_index: usize,
        weights: VarBuilder<'_>,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let bert = BertEncoder::load(weights.pp("bert"), config, kernels, PositionIds::FromZero)?;
        let pooler = linear(
            config.hidden_size,
            config.hidden_size,
            weights.pp("bert.pooler.dense"),
        )?;
        let classifier = linear(config.hidden_size, num_labels, weights.pp("classifier"))?;
        Ok(BertForSequenceClassification {
            bert,
            pooler,
            classifier,
            reward_index,
            max_positions: config.max_position_embeddings,
        })
    }

    /// Logits `[rows, num_labels]` of a padded batch.
    pub fn logits(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let first = self.bert.first_token_states(
            &batch.input_ids,
            &batch.type_ids,
            &batch.attention_mask,
        )?;
        let pooled = self.pooler.forward(&first)?.tanh()?;
        self.classifier.forward(&pooled)
    }
}

impl SequenceRewardModel for BertForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        reward_column(&self.logits(batch)?, self.reward_index)
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config = bert_config(&source)?;
    let (labels, reward_index) = reward_index(&source)?;
    let model = BertForSequenceClassification::new(
        &config,
        labels,
        reward_index,
        source.weights.clone(),
        source.kernels,
    )
    .map_err(LocalJudgeError::model(
        "loading BertForSequenceClassification",
    ))?;
    Ok(Box::new(model))
}

/// The `transformers` defaults of the `BertConfig` fields candle's `Config` requires.
fn bert_defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("vocab_size", Value::from(30_522)),
        ("hidden_size", Value::from(768)),
        ("num_hidden_layers", Value::from(12)),
        ("num_attention_heads", Value::from(12)),
        ("intermediate_size", Value::from(3072)),
        ("hidden_act", Value::from("gelu")),
        ("hidden_dropout_prob", Value::from(0.1)),
        ("max_position_embeddings", Value::from(512)),
        ("type_vocab_size", Value::from(2)),
        ("initializer_range", Value::from(0.02)),
        ("layer_norm_eps", Value::from(1e-12)),
        ("pad_token_id", Value::from(0)),
        ("position_embedding_type", Value::from("absolute")),
    ]
}

/// candle's BERT `Config` from a `config.json`, with `transformers`' defaults and activation names
/// mapped (used by the classifier here and by the sentence-embedding model).
pub(crate) fn bert_config(source: &ModelSource<'_>) -> Result<Config, LocalJudgeError> {
    bert_config_with_defaults(source, &bert_defaults())
}

/// candle's BERT `Config` from a `config.json` of a BERT-layered family, with that family's
/// `transformers` defaults (XLM-RoBERTa's differ from BERT's) and activation names mapped.
pub(crate) fn bert_config_with_defaults(
    source: &ModelSource<'_>,
    defaults: &[(&str, Value)],
) -> Result<Config, LocalJudgeError> {
    let mut config = config_with_defaults(source.config, defaults);
    let activation = config
        .get("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or("gelu")
        .to_owned();
    config["hidden_act"] = Value::from(candle_bert_activation(source, &activation)?);
    parse_value(source, config)
}

/// The name candle's BERT-family `HiddenAct` (bert, debertav2) uses for a `transformers`
/// activation name.
pub(crate) fn candle_bert_activation(
    source: &ModelSource<'_>,
    name: &str,
) -> Result<&'static str, LocalJudgeError> {
    match name {
        "gelu" => Ok("gelu"),
        "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok("geluapproximate"),
        "relu" => Ok("relu"),
        other => Err(config_error(
            source.config_file,
            "hidden_act",
            format!(
                "activation {other:?} is not supported \
                 (gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu)"
            ),
        )),
    }
}
