//! The BERT encoder (`embeddings`, `encoder.layer.N`) under the reward head and the sentence
//! embedding model: the computation of candle-transformers' `bert::BertModel`, operation for
//! operation, written out here so that its layer norms and attention softmax follow
//! [`Kernels`]: candle-transformers builds them on candle's fused kernels, which have no backward
//! pass, so its BERT cannot be trained below the head.
//!
//! As there: absolute positions `0..len` (right for the right-padded batches of
//! [`PaddedBatch`](crate::batch::PaddedBatch)), or RoBERTa's positions counted from the padding
//! index ([`PositionIds`]; candle-transformers' `xlm_roberta`, whose layers are BERT's), padding
//! masked by adding a large finite negative value to the attention scores of padded keys
//! (`transformers`' extended attention mask), no dropout (inference and deterministic training).

use candle_core::{D, DType, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, embedding, linear};
use candle_transformers::models::bert::{Config, HiddenAct};

use super::kernels::{Kernels, LayerNorm, softmax_last_dim};
use super::layers::{Activation, mask_fill_value};
use super::unpadding::Unpadding;

/// How token positions are numbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionIds {
    /// `0..len` (BERT).
    FromZero,
    /// RoBERTa and XLM-RoBERTa: tokens other than the padding id count up from
    /// `padding index + 1`; padding tokens get the padding index.
    AfterPadding(u32),
}

struct Embeddings {
    words: Embedding,
    positions: Embedding,
    position_ids: PositionIds,
    token_types: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
        position_ids: PositionIds,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        Ok(Embeddings {
            words: embedding(config.vocab_size, hidden, weights.pp("word_embeddings"))?,
            positions: embedding(
                config.max_position_embeddings,
                hidden,
                weights.pp("position_embeddings"),
            )?,
            position_ids,
            token_types: embedding(
                config.type_vocab_size,
                hidden,
                weights.pp("token_type_embeddings"),
            )?,
            norm: LayerNorm::load(
                hidden,
                config.layer_norm_eps,
                weights.pp("LayerNorm"),
                kernels,
            )?,
        })
    }

    fn forward(&self, input_ids: &Tensor, type_ids: &Tensor) -> candle_core::Result<Tensor> {
        let summed = (self.words.forward(input_ids)? + self.token_types.forward(type_ids)?)?;
        let summed = match self.position_ids {
            PositionIds::FromZero => {
                let length = input_ids.dim(1)?;
                let positions = Tensor::arange(0u32, length as u32, input_ids.device())?;
                summed.broadcast_add(&self.positions.forward(&positions)?)?
            }
            PositionIds::AfterPadding(padding) => {
                // The running count of real tokens, offset by the padding index, computed in
                // f32 as candle-transformers and `transformers` do.
                let real = input_ids.ne(padding)?.to_dtype(DType::F32)?;
                let positions =
                    ((real.cumsum(1)? * &real)? + f64::from(padding))?.to_dtype(DType::U32)?;
                (summed + self.positions.forward(&positions)?)?
            }
        };
        self.norm.forward(&summed)
    }
}

/// What a BERT-style layer does after self-attention (`transformers`' `…SelfOutput`,
/// `…Intermediate` and `…Output`, shared by BERT and DeBERTa-v2): the attention's output
/// projection with a residual connection and a layer norm, then the feed-forward network with
/// another.
pub(crate) struct LayerOutput {
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    activation: Activation,
    output: Linear,
    output_norm: LayerNorm,
}

/// The sizes and options of a [`LayerOutput`].
pub(crate) struct LayerOutputShape {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
}

impl LayerOutput {
    /// Reads `attention.output.*`, `intermediate.dense` and `output.*` under a layer's `weights`.
    pub(crate) fn load(
        weights: &VarBuilder<'_>,
        shape: &LayerOutputShape,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let hidden = shape.hidden_size;
        let eps = shape.layer_norm_eps;
        let attention = weights.pp("attention.output");
        Ok(LayerOutput {
            attention_output: linear(hidden, hidden, attention.pp("dense"))?,
            attention_norm: LayerNorm::load(hidden, eps, attention.pp("LayerNorm"), kernels)?,
            intermediate: linear(
                hidden,
                shape.intermediate_size,
                weights.pp("intermediate.dense"),
            )?,
            activation: shape.activation,
            output: linear(shape.intermediate_size, hidden, weights.pp("output.dense"))?,
            output_norm: LayerNorm::load(hidden, eps, weights.pp("output.LayerNorm"), kernels)?,
        })
    }

    /// The layer's output from the attention's `context` and the layer's input `hidden`.
    pub(crate) fn forward(&self, context: &Tensor, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let attended = self
            .attention_norm
            .forward(&(self.attention_output.forward(context)? + hidden)?)?;
        let activated = self
            .activation
            .forward(&self.intermediate.forward(&attended)?)?;
        self.output_norm
            .forward(&(self.output.forward(&activated)? + attended)?)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    output: LayerOutput,
    heads: usize,
    head_size: usize,
    kernels: Kernels,
}

impl Layer {
    fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let attention = weights.pp("attention");
        let shape = LayerOutputShape {
            hidden_size: hidden,
            intermediate_size: config.intermediate_size,
            layer_norm_eps: config.layer_norm_eps,
            activation: match config.hidden_act {
                HiddenAct::Gelu => Activation::Gelu,
                HiddenAct::GeluApproximate => Activation::GeluTanh,
                HiddenAct::Relu => Activation::Relu,
            },
        };
        Ok(Layer {
            query: linear(hidden, hidden, attention.pp("self.query"))?,
            key: linear(hidden, hidden, attention.pp("self.key"))?,
            value: linear(hidden, hidden, attention.pp("self.value"))?,
            output: LayerOutput::load(&weights, &shape, kernels)?,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
            kernels,
        })
    }

    /// `[rows, len, hidden]` → `[rows, heads, len, head_size]`.
    fn split_heads(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        split_heads(xs, self.heads, self.head_size)
    }

    /// `linear` of every token of `hidden`, as heads `[rows, heads, len, head_size]` in the
    /// padded layout.
    fn project(
        &self,
        linear: &Linear,
        hidden: &Tensor,
        unpadding: Option<&Unpadding>,
    ) -> candle_core::Result<Tensor> {
        let projected = linear.forward(hidden)?;
        match unpadding {
            Some(unpadding) => unpadding.pad_heads(&projected, self.heads),
            None => self.split_heads(&projected),
        }
    }

    /// Scaled dot-product attention of `query` `[rows, heads, queries, head_size]` over every
    /// key: the context per head, `[rows, heads, queries, head_size]`.
    fn attend(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let scores =
            (query.matmul(&key.t()?)? / (self.head_size as f64).sqrt())?.broadcast_add(mask)?;
        softmax_last_dim(&scores, self.kernels)?.matmul(value)
    }

    /// `hidden` is `[rows, len, hidden]`, or `[tokens, hidden]` with the batch's `unpadding`:
    /// then only the attention runs in the padded layout.
    fn forward(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        unpadding: Option<&Unpadding>,
    ) -> candle_core::Result<Tensor> {
        let query = self.project(&self.query, hidden, unpadding)?;
        let key = self.project(&self.key, hidden, unpadding)?;
        let value = self.project(&self.value, hidden, unpadding)?;
        let context = self.attend(&query, &key, &value, mask)?;
        let context = match unpadding {
            Some(unpadding) => unpadding.unpad_heads(&context)?,
            None => merge_heads(&context)?,
        };
        self.output.forward(&context, hidden)
    }

    /// The layer's output at each row's first token only, `[rows, hidden]`: keys and values of
    /// every token, one query per row, and the output and feed-forward work for that token alone.
    fn forward_first_tokens(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        unpadding: Option<&Unpadding>,
    ) -> candle_core::Result<Tensor> {
        let first = first_tokens(hidden, unpadding)?;
        let query = self.split_heads(&self.query.forward(&first)?.unsqueeze(1)?)?;
        let key = self.project(&self.key, hidden, unpadding)?;
        let value = self.project(&self.value, hidden, unpadding)?;
        let context = merge_heads(&self.attend(&query, &key, &value, mask)?)?.squeeze(1)?;
        self.output.forward(&context, &first)
    }
}

/// Attention heads `[rows, heads, len, head_size]` → `[rows, len, heads × head_size]`.
fn merge_heads(context: &Tensor) -> candle_core::Result<Tensor> {
    context
        .transpose(1, 2)?
        .contiguous()?
        .flatten_from(D::Minus2)
}

/// Each row's first token `[rows, hidden]` of `hidden` (`[rows, len, hidden]`, or
/// `[tokens, hidden]` with the batch's `unpadding`), contiguous.
fn first_tokens(hidden: &Tensor, unpadding: Option<&Unpadding>) -> candle_core::Result<Tensor> {
    match unpadding {
        Some(unpadding) => unpadding.first_tokens(hidden),
        // CUDA matmuls need contiguous rows; the first-token slice is strided.
        None => hidden.narrow(1, 0, 1)?.squeeze(1)?.contiguous(),
    }
}

/// What [`BertEncoder`] returns.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// The last hidden state of every token.
    EveryToken,
    /// The last hidden state of each row's first token.
    FirstToken,
}

/// The BERT encoder: embeddings and `num_hidden_layers` transformer layers.
pub struct BertEncoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl BertEncoder {
    /// Reads `embeddings.*` and `encoder.layer.N.*` from `weights`.
    pub fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
        position_ids: PositionIds,
    ) -> candle_core::Result<Self> {
        let embeddings = Embeddings::load(weights.pp("embeddings"), config, kernels, position_ids)?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                Layer::load(
                    weights.pp(format!("encoder.layer.{index}")),
                    config,
                    kernels,
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(BertEncoder { embeddings, layers })
    }

    /// The last hidden states `[rows, len, hidden]` of a right-padded batch. On the CPU the
    /// layers' per-token work runs on the real tokens only ([`Unpadding`]); the hidden states of
    /// padding positions are then zeros (they are never read: heads take real tokens, pooling
    /// masks the padding).
    pub fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.run(input_ids, type_ids, attention_mask, Reading::EveryToken)
    }

    /// The last hidden state of each row's first token `[rows, hidden]` (the `[CLS]` token the
    /// sequence-classification heads read): the same values as [`BertEncoder::forward`] at
    /// position 0, with the last layer computed for that token alone.
    pub fn first_token_states(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        self.run(input_ids, type_ids, attention_mask, Reading::FirstToken)
    }

    fn run(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
        reading: Reading,
    ) -> candle_core::Result<Tensor> {
        let embedded = self.embeddings.forward(input_ids, type_ids)?;
        let mask = additive_mask(attention_mask, embedded.dtype())?;
        // The CUDA path stays padded until a GPU run measures the gather and scatter there.
        let unpadding = if embedded.device().is_cpu() {
            Unpadding::from_mask(attention_mask)?
        } else {
            None
        };
        let unpadding = unpadding.as_ref();
        let (every_token, last) = match (reading, self.layers.split_last()) {
            (Reading::FirstToken, Some((last, before))) => (before, Some(last)),
            _ => (&self.layers[..], None),
        };
        let mut hidden = match unpadding {
            Some(unpadding) => unpadding.unpad(&embedded)?,
            None => embedded,
        };
        for layer in every_token {
            hidden = layer.forward(&hidden, &mask, unpadding)?;
        }
        match (reading, last) {
            (Reading::FirstToken, Some(last)) => {
                last.forward_first_tokens(&hidden, &mask, unpadding)
            }
            (Reading::FirstToken, None) => first_tokens(&hidden, unpadding),
            (Reading::EveryToken, _) => match unpadding {
                Some(unpadding) => unpadding.pad(&hidden),
                None => Ok(hidden),
            },
        }
    }
}

/// `[rows, len, heads × head_size]` → `[rows, heads, len, head_size]`, contiguous.
pub(crate) fn split_heads(
    xs: &Tensor,
    heads: usize,
    head_size: usize,
) -> candle_core::Result<Tensor> {
    let (rows, length, _) = xs.dims3()?;
    xs.reshape((rows, length, heads, head_size))?
        .transpose(1, 2)?
        .contiguous()
}

/// `[rows, len]` of 1 (token) and 0 (padding) → `[rows, 1, 1, len]` of 0 and a large finite
/// negative value ([`mask_fill_value`]), added to attention scores so that no token attends to
/// padding. Finite in every dtype, so the mask has no NaN in bf16 or f16 either.
pub(crate) fn additive_mask(attention_mask: &Tensor, dtype: DType) -> candle_core::Result<Tensor> {
    let mask = attention_mask.unsqueeze(1)?.unsqueeze(1)?.to_dtype(dtype)?;
    let fill = Tensor::new(mask_fill_value(dtype) as f32, mask.device())?.to_dtype(dtype)?;
    (mask.ones_like()? - &mask)?.broadcast_mul(&fill)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn the_additive_mask_is_finite_in_every_dtype() -> candle_core::Result<()> {
        let attention_mask = Tensor::new(&[[1u32, 1, 0], [1, 0, 0]], &Device::Cpu)?;
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let mask = additive_mask(&attention_mask, dtype)?
                .to_dtype(DType::F32)?
                .flatten_all()?
                .to_vec1::<f32>()?;
            assert!(
                mask.iter().all(|value| value.is_finite()),
                "{dtype:?}: {mask:?}"
            );
            let masked: Vec<bool> = mask.iter().map(|&value| value < -1e4).collect();
            assert_eq!(masked, [false, false, true, false, true, true], "{dtype:?}");
            // Real tokens get exactly zero.
            assert_eq!(mask[0], 0.0, "{dtype:?}");
        }
        Ok(())
    }
}
