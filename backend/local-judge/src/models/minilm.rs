//! Sentence embeddings of `BertModel` checkpoints (all-MiniLM-L6-v2 and other
//! sentence-transformers BERT encoders): the BERT encoder ([`BertEncoder`]), then what
//! sentence-transformers' `Pooling` (mean tokens) and `Normalize` modules do: the mean of the
//! last hidden states over real tokens (padding masked out) and L2 normalisation.
//!
//! This is the project's default judge, the "MiniLM relevance baseline": the reward of a response
//! is the cosine similarity of its embedding with the embedding of the request (criterion and
//! prompt, one per line; see [`crate::judge`]).
//!
//! Weights are read from the folder root (`embeddings.*`, `encoder.*`) or, for checkpoints saved
//! from a model with a head, from `bert.*`; the pooler is not used. The model runs in f32 on every
//! device, as candle's BERT attention mask is not safe in half precision (see [`super::bert`]).

use candle_core::Tensor;

use super::TextEmbeddingModel;
use super::bert::bert_config;
use super::bert_encoder::{BertEncoder, PositionIds};
use super::layers::{ModelSource, l2_normalize, masked_mean};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// A BERT encoder with masked mean pooling and L2 normalisation.
pub struct SentenceEmbeddingModel {
    bert: BertEncoder,
    max_positions: usize,
}

impl TextEmbeddingModel for SentenceEmbeddingModel {
    fn embeddings(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let hidden = self
            .bert
            .forward(&batch.input_ids, &batch.type_ids, &batch.attention_mask)?;
        l2_normalize(&masked_mean(&hidden, &batch.attention_mask)?)
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn TextEmbeddingModel>, LocalJudgeError> {
    let config = bert_config(&source)?;
    let weights = if source
        .weights
        .contains_tensor("bert.embeddings.word_embeddings.weight")
    {
        source.weights.pp("bert")
    } else {
        source.weights.clone()
    };
    let bert = BertEncoder::load(weights, &config, source.kernels, PositionIds::FromZero)
        .map_err(LocalJudgeError::model("loading the BertModel encoder"))?;
    Ok(Box::new(SentenceEmbeddingModel {
        bert,
        max_positions: config.max_position_embeddings,
    }))
}
