//! `DebertaV2ForSequenceClassification` (DeBERTa-v2 and -v3 reward models): the disentangled
//! attention encoder ([`DebertaV2Encoder`], `deberta.*`: relative positions, log buckets, shared
//! or separate position projections, on either [`Kernels`]), then the head `transformers` puts on
//! it: `pooler.dense` and the `pooler_hidden_act` activation (default gelu) on the first token,
//! `[CLS]`, and `classifier`. The reward is the logit of the chosen label.
//!
//! The embeddings zero padded positions and the encoder masks padded keys, so rewards do not
//! depend on the padding of a batch.
//!
//! The config is read here with `transformers`' defaults. Options the encoder does not compute
//! are refused by field name rather than run differently from `transformers`: the convolution
//! layer (`conv_kernel_size > 0`, DeBERTa-v2 xlarge and xxlarge), a factorised embedding
//! (`embedding_size` other than `hidden_size`), a head size other than `hidden_size /
//! num_attention_heads` (`attention_head_size`), attention terms other than `c2p` and `p2c`
//! (`pos_att_type`) and relative-embedding normalisations other than `layer_norm`
//! (`norm_rel_ebd`). DeBERTa-v3 checkpoints use none of them. Attention masking adds a finite
//! value in every dtype (`bert_encoder::additive_mask`); like the other encoders the model runs in
//! f32 on every device ([`crate::device::dtype_for`]) until a GPU run measures it in bf16.

use candle_core::{Module, Tensor};
use candle_nn::{Linear, linear};
use serde::Deserialize;
use serde_json::Value;

use super::SequenceRewardModel;
use super::deberta_v2_encoder::{Config, DebertaV2Encoder};
use super::deberta_v2_positions::RelativePositions;
use super::kernels::Kernels;
use super::layers::{
    Activation, ModelSource, config_error, config_with_defaults, parse_value, reward_column,
    reward_index,
};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// `DebertaV2ForSequenceClassification`: `deberta.*` + `pooler.dense` + `classifier`.
pub struct DebertaV2ForSequenceClassification {
    deberta: DebertaV2Encoder,
    pooler: Linear,
    pooler_activation: Activation,
    classifier: Linear,
    reward_index: usize,
    max_positions: Option<usize>,
}

impl DebertaV2ForSequenceClassification {
    /// Logits `[rows, num_labels]` of a padded batch.
    pub fn logits(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let hidden =
            self.deberta
                .forward(&batch.input_ids, &batch.type_ids, &batch.attention_mask)?;
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

/// The `transformers` defaults of the `DebertaV2Config` fields the encoder reads (and the
/// `getattr` defaults of `modeling_deberta_v2.py` for fields the config class does not declare).
fn defaults() -> Vec<(&'static str, Value)> {
    vec![
        ("vocab_size", Value::from(128_100)),
        ("hidden_size", Value::from(1536)),
        ("num_hidden_layers", Value::from(24)),
        ("num_attention_heads", Value::from(24)),
        ("intermediate_size", Value::from(6144)),
        ("max_position_embeddings", Value::from(512)),
        ("type_vocab_size", Value::from(0)),
        ("layer_norm_eps", Value::from(1e-7)),
        ("relative_attention", Value::from(false)),
        ("max_relative_positions", Value::from(-1)),
        ("position_buckets", Value::from(-1)),
        ("position_biased_input", Value::from(true)),
        ("pos_att_type", Value::Array(Vec::new())),
        ("share_att_key", Value::from(false)),
        ("norm_rel_ebd", Value::from("none")),
        ("conv_kernel_size", Value::from(0)),
    ]
}

/// `pos_att_type`: a list, or the older `"c2p|p2c"` string.
#[derive(Deserialize)]
#[serde(untagged)]
enum NameList {
    Joined(String),
    Listed(Vec<String>),
}

impl NameList {
    /// The names, trimmed and lower-cased as `transformers` reads them.
    fn names(&self) -> Vec<String> {
        let names: Vec<&str> = match self {
            NameList::Joined(joined) => joined.split('|').collect(),
            NameList::Listed(listed) => listed.iter().map(String::as_str).collect(),
        };
        names
            .into_iter()
            .map(|name| name.trim().to_lowercase())
            .collect()
    }
}

/// The fields of `config.json` the model reads, after [`defaults`].
#[derive(Deserialize)]
struct RawConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    layer_norm_eps: f64,
    relative_attention: bool,
    max_relative_positions: i64,
    position_buckets: i64,
    position_biased_input: bool,
    pos_att_type: NameList,
    share_att_key: bool,
    norm_rel_ebd: String,
    conv_kernel_size: u64,
    embedding_size: Option<usize>,
    attention_head_size: Option<usize>,
    pooler_hidden_size: Option<usize>,
}

/// The encoder config and the pooler's output size, or the first unsupported field.
fn read_config(source: &ModelSource<'_>) -> Result<(Config, usize), LocalJudgeError> {
    let raw: RawConfig = parse_value(source, config_with_defaults(source.config, &defaults()))?;
    if raw.conv_kernel_size > 0 {
        return Err(config_error(
            source.config_file,
            "conv_kernel_size",
            "DeBERTa-v2 convolution layers are not supported".to_owned(),
        ));
    }
    if raw
        .embedding_size
        .is_some_and(|size| size != raw.hidden_size)
    {
        return Err(config_error(
            source.config_file,
            "embedding_size",
            "an embedding size other than hidden_size (embed_proj) is not supported".to_owned(),
        ));
    }
    if raw.num_attention_heads == 0 || !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
        return Err(config_error(
            source.config_file,
            "num_attention_heads",
            format!(
                "hidden_size {} is not a multiple of {} heads",
                raw.hidden_size, raw.num_attention_heads
            ),
        ));
    }
    if raw
        .attention_head_size
        .is_some_and(|size| size != raw.hidden_size / raw.num_attention_heads)
    {
        return Err(config_error(
            source.config_file,
            "attention_head_size",
            "a head size other than hidden_size / num_attention_heads is not supported".to_owned(),
        ));
    }
    let attention_terms = raw.pos_att_type.names();
    if let Some(other) = attention_terms
        .iter()
        .find(|name| !matches!(name.as_str(), "c2p" | "p2c"))
    {
        return Err(config_error(
            source.config_file,
            "pos_att_type",
            format!("attention term {other:?} is not supported (c2p, p2c)"),
        ));
    }
    let normalisations = NameList::Joined(raw.norm_rel_ebd.clone()).names();
    if let Some(other) = normalisations
        .iter()
        .find(|name| !matches!(name.as_str(), "none" | "layer_norm"))
    {
        return Err(config_error(
            source.config_file,
            "norm_rel_ebd",
            format!(
                "relative embedding normalisation {other:?} is not supported (none, layer_norm)"
            ),
        ));
    }
    // As `transformers`: fewer than one relative position means `max_position_embeddings`.
    let max_relative_positions = usize::try_from(raw.max_relative_positions)
        .ok()
        .filter(|positions| *positions >= 1)
        .unwrap_or(raw.max_position_embeddings);
    let relative_positions = raw.relative_attention.then(|| RelativePositions {
        buckets: usize::try_from(raw.position_buckets)
            .ok()
            .filter(|buckets| *buckets > 0),
        max_relative_positions,
    });
    let hidden_act = Activation::from_config(source, "hidden_act", "gelu")?;
    let pooler_size = raw.pooler_hidden_size.unwrap_or(raw.hidden_size);
    let config = Config {
        vocab_size: raw.vocab_size,
        hidden_size: raw.hidden_size,
        num_hidden_layers: raw.num_hidden_layers,
        num_attention_heads: raw.num_attention_heads,
        intermediate_size: raw.intermediate_size,
        hidden_act,
        max_position_embeddings: raw.max_position_embeddings,
        type_vocab_size: raw.type_vocab_size,
        layer_norm_eps: raw.layer_norm_eps,
        position_biased_input: raw.position_biased_input,
        relative_positions,
        content_to_position: attention_terms.iter().any(|name| name == "c2p"),
        position_to_content: attention_terms.iter().any(|name| name == "p2c"),
        share_att_key: raw.share_att_key,
        normalise_relative_embeddings: normalisations.iter().any(|name| name == "layer_norm"),
    };
    Ok((config, pooler_size))
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let (config, pooler_size) = read_config(&source)?;
    let pooler_activation = Activation::from_config(&source, "pooler_hidden_act", "gelu")?;
    let (labels, reward_index) = reward_index(&source)?;
    let weights = source.weights.clone();
    let kernels: Kernels = source.kernels;
    let (deberta, pooler, classifier) = (|| -> candle_core::Result<_> {
        let deberta = DebertaV2Encoder::load(weights.pp("deberta"), &config, kernels)?;
        let pooler = linear(config.hidden_size, pooler_size, weights.pp("pooler.dense"))?;
        let classifier = linear(pooler_size, labels, weights.pp("classifier"))?;
        Ok((deberta, pooler, classifier))
    })()
    .map_err(LocalJudgeError::model(
        "loading DebertaV2ForSequenceClassification",
    ))?;
    // Without absolute positions, length is bounded by the tokenizer, not the weights.
    let max_positions = config
        .position_biased_input
        .then_some(config.max_position_embeddings);
    Ok(Box::new(DebertaV2ForSequenceClassification {
        deberta,
        pooler,
        pooler_activation,
        classifier,
        reward_index,
        max_positions,
    }))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;
    use serde_json::json;

    use super::*;
    use crate::models::RewardLabel;

    fn read(config: &Value) -> Result<(Config, usize), LocalJudgeError> {
        read_config(&ModelSource {
            config_file: Path::new("config.json"),
            config,
            weights: VarBuilder::zeros(DType::F32, &Device::Cpu),
            reward_label: &RewardLabel::Single,
            kernels: Kernels::Fused,
        })
    }

    /// A DeBERTa-v3-base configuration, as its `config.json` writes it.
    fn deberta_v3_base() -> Value {
        json!({
            "model_type": "deberta-v2",
            "hidden_size": 768,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "hidden_act": "gelu",
            "max_position_embeddings": 512,
            "type_vocab_size": 0,
            "layer_norm_eps": 1e-7,
            "relative_attention": true,
            "max_relative_positions": -1,
            "position_buckets": 256,
            "norm_rel_ebd": "layer_norm",
            "share_att_key": true,
            "pos_att_type": "p2c|c2p",
            "position_biased_input": false,
            "pad_token_id": 0,
            "vocab_size": 128100
        })
    }

    #[test]
    fn a_deberta_v3_config_reads_with_buckets_shared_keys_and_both_terms() {
        let (config, pooler_size) = read(&deberta_v3_base()).expect("supported");
        assert_eq!(pooler_size, 768);
        assert_eq!(
            config.relative_positions,
            Some(RelativePositions {
                buckets: Some(256),
                max_relative_positions: 512,
            })
        );
        assert!(config.content_to_position && config.position_to_content);
        assert!(config.share_att_key && config.normalise_relative_embeddings);
        assert!(!config.position_biased_input);
    }

    #[test]
    fn unsupported_options_are_refused_by_field_name() {
        let cases = [
            ("conv_kernel_size", json!(3)),
            ("embedding_size", json!(128)),
            ("attention_head_size", json!(32)),
            ("pos_att_type", json!(["c2p", "p2p"])),
            ("norm_rel_ebd", json!("batch_norm")),
            ("num_attention_heads", json!(7)),
            ("hidden_act", json!("mish")),
        ];
        for (field, value) in cases {
            let mut config = deberta_v3_base();
            config[field] = value;
            match read(&config) {
                Err(LocalJudgeError::Config {
                    field: named,
                    message,
                    ..
                }) => assert_eq!(named, field, "{message}"),
                Err(other) => panic!("{field}: {other}"),
                Ok(_) => panic!("{field}: accepted"),
            }
        }
    }
}
