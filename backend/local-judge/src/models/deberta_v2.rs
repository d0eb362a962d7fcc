//! `DebertaV2ForSequenceClassification` (DeBERTa-v2 and -v3 reward models): the disentangled
//! attention encoder of candle-transformers' `debertav2` (`deberta.*`: relative positions, log
//! buckets, shared or separate position projections), then the head `transformers` puts on it:
//! `pooler.dense` and the `pooler_hidden_act` activation (default gelu) on the first token,
//! `[CLS]`, and `classifier`. The reward is the logit of the chosen label.
//!
//! The embeddings zero padded positions and the encoder masks padded keys, so rewards do not
//! depend on the padding of a batch.
//!
//! Deviations from candle-transformers' `debertav2`, handled here:
//! - its sequence-classification model requires `id2label` and `pooler_*` fields and knows only
//!   the activations `gelu`, its tanh approximation and `relu` (no `tanh`); this file uses its
//!   embeddings and encoder and builds the pooler and classifier itself, with every activation
//!   `transformers` configs name for poolers (`tanh` included) and
//!   [`num_labels`](super::num_labels);
//! - its `Config` requires fields that `transformers` has defaults for (and cannot read a null
//!   `pos_att_type`); those get `transformers`' defaults;
//! - its convolution layer (`conv_kernel_size > 0`) panics when run; such checkpoints are refused
//!   when loading;
//! - its `DebertaV2Model` adds `[1, len]` absolute position embeddings to `[rows, len]` token
//!   embeddings without broadcasting, which fails for any batch of more than one row when
//!   `position_biased_input` is set; this file composes its public embeddings and encoder and
//!   passes position ids of the batch's shape;
//! - its attention masking uses `f32::MIN` tensors, so the model runs in f32 on every device
//!   ([`crate::device::dtype_for`]).

use candle_core::{Module, Tensor};
use candle_nn::{Linear, linear};
use candle_transformers::models::debertav2::{Config, DebertaV2Embeddings, DebertaV2Encoder};
use serde_json::Value;

use super::bert::{
    Activation, candle_bert_activation, config_with_defaults, reward_column, reward_index,
};
use super::{ModelSource, SequenceRewardModel};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// `DebertaV2ForSequenceClassification`: `deberta.*` + `pooler.dense` + `classifier`.
pub struct DebertaV2ForSequenceClassification {
    embeddings: DebertaV2Embeddings,
    encoder: DebertaV2Encoder,
    pooler: Linear,
    pooler_activation: Activation,
    classifier: Linear,
    reward_index: usize,
    max_positions: Option<usize>,
}

impl DebertaV2ForSequenceClassification {
    /// Logits `[rows, num_labels]` of a padded batch.
    pub fn logits(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        // Absolute position ids per row: candle's embeddings add `[1, len]` position embeddings
        // to `[rows, len]` token embeddings without broadcasting.
        let (rows, length) = batch.input_ids.dims2()?;
        let positions = Tensor::arange(0u32, length as u32, batch.input_ids.device())?
            .unsqueeze(0)?
            .broadcast_as((rows, length))?
            .contiguous()?;
        let embedded = self.embeddings.forward(
            Some(&batch.input_ids),
            Some(&batch.type_ids),
            Some(&positions),
            Some(&batch.attention_mask),
            None,
        )?;
        let hidden = self
            .encoder
            .forward(&embedded, &batch.attention_mask, None, None)?;
        // CUDA matmuls need contiguous rows; the first-token slice is strided.
        let first = hidden.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?;
        let pooled = self
            .pooler_activation
            .forward(&self.pooler.forward(&first)?)?;
        self.classifier.forward(&pooled)
    }
}

impl SequenceRewardModel for DebertaV2ForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        reward_column(&self.logits(batch)?, self.reward_index)
    }

    fn max_positions(&self) -> Option<usize> {
        self.max_positions
    }
}

/// The `transformers` defaults of the `DebertaV2Config` fields candle's `Config` requires.
fn defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("vocab_size", Value::from(128_100)),
        ("hidden_size", Value::from(1536)),
        ("num_hidden_layers", Value::from(24)),
        ("num_attention_heads", Value::from(24)),
        ("intermediate_size", Value::from(6144)),
        ("hidden_act", Value::from("gelu")),
        ("hidden_dropout_prob", Value::from(0.1)),
        ("attention_probs_dropout_prob", Value::from(0.1)),
        ("max_position_embeddings", Value::from(512)),
        ("type_vocab_size", Value::from(0)),
        ("initializer_range", Value::from(0.02)),
        ("layer_norm_eps", Value::from(1e-7)),
        ("relative_attention", Value::from(false)),
        ("max_relative_positions", Value::from(-1)),
        ("pad_token_id", Value::from(0)),
        ("position_biased_input", Value::from(true)),
        ("pos_att_type", Value::Array(Vec::new())),
    ]
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config_error = |field: &str, message: String| LocalJudgeError::Config {
        file: source.config_file.to_path_buf(),
        field: field.to_owned(),
        message,
    };
    let mut config = config_with_defaults(source.config, &defaults());
    if config
        .get("conv_kernel_size")
        .and_then(Value::as_u64)
        .is_some_and(|size| size > 0)
    {
        return Err(config_error(
            "conv_kernel_size",
            "DeBERTa-v2 convolution layers are not supported".to_owned(),
        ));
    }
    let hidden_act = config
        .get("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or("gelu")
        .to_owned();
    config["hidden_act"] = Value::from(candle_bert_activation(&source, &hidden_act)?);
    // The pooler is built here; candle's narrower activation list must not refuse its name.
    config["pooler_hidden_act"] = Value::Null;
    let pooler_activation = Activation::from_config(&source, "pooler_hidden_act", "gelu")?;
    let config: Config = serde_json::from_value(config)
        .map_err(|error| config_error("(config)", error.to_string()))?;
    let pooler_size = config.pooler_hidden_size.unwrap_or(config.hidden_size);
    let (labels, reward_index) = reward_index(&source)?;

    let weights = source.weights.clone();
    let load_error = LocalJudgeError::model("loading DebertaV2ForSequenceClassification");
    let (embeddings, encoder, pooler, classifier) = (|| -> candle_core::Result<_> {
        let embeddings = DebertaV2Embeddings::load(weights.pp("deberta.embeddings"), &config)?;
        let encoder = DebertaV2Encoder::load(weights.pp("deberta.encoder"), &config)?;
        let pooler = linear(config.hidden_size, pooler_size, weights.pp("pooler.dense"))?;
        let classifier = linear(pooler_size, labels, weights.pp("classifier"))?;
        Ok((embeddings, encoder, pooler, classifier))
    })()
    .map_err(load_error)?;
    // Without absolute positions, length is bounded by the tokenizer, not the weights.
    let max_positions = config
        .position_biased_input
        .then_some(config.max_position_embeddings);
    Ok(Box::new(DebertaV2ForSequenceClassification {
        embeddings,
        encoder,
        pooler,
        pooler_activation,
        classifier,
        reward_index,
        max_positions,
    }))
}
