//! The DeBERTa-v2 encoder (`deberta.embeddings`, `deberta.encoder`) under the reward head:
//! `transformers`' `DebertaV2Model` (`modeling_deberta_v2.py`), written out here so that its
//! layer norms and attention softmax follow [`Kernels`]: candle-transformers' `debertav2` runs
//! them on candle's fused kernels, which have no backward pass, so it cannot be trained below
//! the head.
//!
//! What it computes, as `transformers` does:
//! - embeddings: words, plus absolute positions `0..len` when `position_biased_input`, plus
//!   token types when `type_vocab_size > 0`, a layer norm, then padded positions zeroed;
//! - disentangled self-attention: content-to-content scores, plus content-to-position (`c2p`)
//!   and position-to-content (`p2c`) scores read from the relative position embeddings
//!   (`encoder.rel_embeddings`, layer-normed by `encoder.LayerNorm` when `norm_rel_ebd` says
//!   `layer_norm`), projected by the attention's own query and key projections
//!   (`share_att_key`) or by `pos_query_proj` / `pos_key_proj`; every score is divided by
//!   `sqrt(head_size × (1 + number of position terms))`;
//! - relative positions clipped to `max_relative_positions` or log-bucketed
//!   ([`RelativePositions`]).
//!
//! Padding is masked by adding the dtype's smallest value to the scores of padded keys; rows of
//! padded queries differ from `transformers` (which masks them entirely) but no real token reads
//! them, so rewards are the same. No dropout (inference and deterministic training).

use candle_core::{D, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, embedding, linear};

use super::bert_encoder::{LayerOutput, LayerOutputShape, additive_mask, split_heads};
use super::deberta_v2_positions::RelativePositions;
use super::kernels::{Kernels, LayerNorm, softmax_last_dim};
use super::layers::Activation;

/// The encoder's shape and options, read and checked from `config.json` by
/// [`super::deberta_v2`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: Activation,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// Absolute position embeddings are added to the words.
    pub position_biased_input: bool,
    /// Relative positions when `relative_attention` is set.
    pub relative_positions: Option<RelativePositions>,
    /// `pos_att_type` contains `c2p`.
    pub content_to_position: bool,
    /// `pos_att_type` contains `p2c`.
    pub position_to_content: bool,
    /// Position embeddings are projected by the content query and key projections.
    pub share_att_key: bool,
    /// `norm_rel_ebd` contains `layer_norm`.
    pub normalise_relative_embeddings: bool,
}

struct Embeddings {
    words: Embedding,
    positions: Option<Embedding>,
    token_types: Option<Embedding>,
    norm: LayerNorm,
}

impl Embeddings {
    fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let positions = config
            .position_biased_input
            .then(|| {
                embedding(
                    config.max_position_embeddings,
                    hidden,
                    weights.pp("position_embeddings"),
                )
            })
            .transpose()?;
        let token_types = (config.type_vocab_size > 0)
            .then(|| {
                embedding(
                    config.type_vocab_size,
                    hidden,
                    weights.pp("token_type_embeddings"),
                )
            })
            .transpose()?;
        Ok(Embeddings {
            words: embedding(config.vocab_size, hidden, weights.pp("word_embeddings"))?,
            positions,
            token_types,
            norm: LayerNorm::load(
                hidden,
                config.layer_norm_eps,
                weights.pp("LayerNorm"),
                kernels,
            )?,
        })
    }

    fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let mut summed = self.words.forward(input_ids)?;
        if let Some(positions) = &self.positions {
            let length = input_ids.dim(1)?;
            let ids = Tensor::arange(0u32, length as u32, input_ids.device())?;
            summed = summed.broadcast_add(&positions.forward(&ids)?)?;
        }
        if let Some(token_types) = &self.token_types {
            summed = (summed + token_types.forward(type_ids)?)?;
        }
        let normalised = self.norm.forward(&summed)?;
        // Padded positions are zeroed, as `transformers` multiplies by the mask.
        let mask = attention_mask.unsqueeze(2)?.to_dtype(normalised.dtype())?;
        normalised.broadcast_mul(&mask)
    }
}

/// The relative position embeddings each layer reads, and the gather indices of one batch.
struct RelativeInputs {
    /// `[2 span, hidden]`, layer-normed when the config says so.
    embeddings: Tensor,
    /// `[rows, heads, len, len]` column of each content-to-position score.
    content_to_position: Tensor,
    /// `[rows, heads, len, len]` column of each position-to-content score (before transposing).
    position_to_content: Tensor,
}

struct Attention {
    query: Linear,
    key: Linear,
    value: Linear,
    /// `pos_key_proj` (separate projections and `c2p`).
    position_key: Option<Linear>,
    /// `pos_query_proj` (separate projections and `p2c`).
    position_query: Option<Linear>,
    content_to_position: bool,
    position_to_content: bool,
    heads: usize,
    head_size: usize,
    /// `sqrt(head_size × scale factor)`, the divisor of every score.
    scale: f64,
    kernels: Kernels,
}

impl Attention {
    fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let hidden = config.hidden_size;
        let separate = config.relative_positions.is_some() && !config.share_att_key;
        let position_key = (separate && config.content_to_position)
            .then(|| linear(hidden, hidden, weights.pp("pos_key_proj")))
            .transpose()?;
        let position_query = (separate && config.position_to_content)
            .then(|| linear(hidden, hidden, weights.pp("pos_query_proj")))
            .transpose()?;
        let head_size = hidden / config.num_attention_heads;
        // `transformers` counts the position terms the config names, whether or not relative
        // attention is on.
        let scale_factor =
            1 + usize::from(config.content_to_position) + usize::from(config.position_to_content);
        Ok(Attention {
            query: linear(hidden, hidden, weights.pp("query_proj"))?,
            key: linear(hidden, hidden, weights.pp("key_proj"))?,
            value: linear(hidden, hidden, weights.pp("value_proj"))?,
            position_key,
            position_query,
            content_to_position: config.content_to_position,
            position_to_content: config.position_to_content,
            heads: config.num_attention_heads,
            head_size,
            scale: ((head_size * scale_factor) as f64).sqrt(),
            kernels,
        })
    }

    /// `[rows, len, hidden]` → `[rows, heads, len, head_size]`.
    fn split_heads(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        split_heads(xs, self.heads, self.head_size)
    }

    /// Projected relative embeddings `[2 span, hidden]` → `[rows, heads, 2 span, head_size]`,
    /// the same for every row (materialised: candle's matmul wants real batch strides).
    fn position_heads(
        &self,
        projection: &Linear,
        relative: &Tensor,
        rows: usize,
    ) -> candle_core::Result<Tensor> {
        let projected = self.split_heads(&projection.forward(&relative.unsqueeze(0)?)?)?;
        let (_, heads, positions, size) = projected.dims4()?;
        projected
            .broadcast_as((rows, heads, positions, size))?
            .contiguous()
    }

    /// The `c2p` and `p2c` scores `[rows, heads, len, len]` added to the content scores.
    fn disentangled_bias(
        &self,
        query: &Tensor,
        key: &Tensor,
        relative: &RelativeInputs,
    ) -> candle_core::Result<Option<Tensor>> {
        let rows = query.dim(0)?;
        let mut bias: Option<Tensor> = None;
        let mut add = |term: Tensor| -> candle_core::Result<()> {
            bias = Some(match bias.take() {
                Some(sum) => (sum + term)?,
                None => term,
            });
            Ok(())
        };
        if self.content_to_position {
            // Shared projections use the content key projection for positions.
            let projection = self.position_key.as_ref().unwrap_or(&self.key);
            let position_key = self.position_heads(projection, &relative.embeddings, rows)?;
            let scores = query.matmul(&position_key.t()?)?;
            add((scores.gather(&relative.content_to_position, D::Minus1)? / self.scale)?)?;
        }
        if self.position_to_content {
            let projection = self.position_query.as_ref().unwrap_or(&self.query);
            let position_query = self.position_heads(projection, &relative.embeddings, rows)?;
            let scores = key.matmul(&position_query.t()?)?;
            let gathered = scores.gather(&relative.position_to_content, D::Minus1)?;
            add((gathered.transpose(2, 3)? / self.scale)?)?;
        }
        Ok(bias)
    }

    /// The attention context `[rows, len, hidden]` (before the output projection).
    fn forward(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        relative: Option<&RelativeInputs>,
    ) -> candle_core::Result<Tensor> {
        let query = self.split_heads(&self.query.forward(hidden)?)?;
        let key = self.split_heads(&self.key.forward(hidden)?)?;
        let value = self.split_heads(&self.value.forward(hidden)?)?;
        let mut scores = query.matmul(&(key.t()? / self.scale)?)?;
        if let Some(relative) = relative
            && let Some(bias) = self.disentangled_bias(&query, &key, relative)?
        {
            scores = (scores + bias)?;
        }
        let probabilities = softmax_last_dim(&scores.broadcast_add(mask)?, self.kernels)?;
        probabilities
            .matmul(&value)?
            .transpose(1, 2)?
            .contiguous()?
            .flatten_from(D::Minus2)
    }
}

struct Layer {
    attention: Attention,
    output: LayerOutput,
}

impl Layer {
    fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let shape = LayerOutputShape {
            hidden_size: config.hidden_size,
            intermediate_size: config.intermediate_size,
            layer_norm_eps: config.layer_norm_eps,
            activation: config.hidden_act,
        };
        Ok(Layer {
            attention: Attention::load(weights.pp("attention.self"), config, kernels)?,
            output: LayerOutput::load(&weights, &shape, kernels)?,
        })
    }

    fn forward(
        &self,
        hidden: &Tensor,
        mask: &Tensor,
        relative: Option<&RelativeInputs>,
    ) -> candle_core::Result<Tensor> {
        let context = self.attention.forward(hidden, mask, relative)?;
        self.output.forward(&context, hidden)
    }
}

/// The relative position embeddings and their optional layer norm.
struct RelativeEmbeddings {
    positions: RelativePositions,
    embeddings: Embedding,
    norm: Option<LayerNorm>,
}

/// The DeBERTa-v2 encoder: embeddings and `num_hidden_layers` disentangled-attention layers.
pub(crate) struct DebertaV2Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    relative: Option<RelativeEmbeddings>,
    heads: usize,
}

impl DebertaV2Encoder {
    /// Reads `embeddings.*` and `encoder.*` from `weights` (the `deberta` prefix).
    pub fn load(
        weights: VarBuilder<'_>,
        config: &Config,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let encoder = weights.pp("encoder");
        let relative = config
            .relative_positions
            .map(|positions| -> candle_core::Result<_> {
                let embeddings = embedding(
                    2 * positions.span(),
                    config.hidden_size,
                    encoder.pp("rel_embeddings"),
                )?;
                let norm = config
                    .normalise_relative_embeddings
                    .then(|| {
                        LayerNorm::load(
                            config.hidden_size,
                            config.layer_norm_eps,
                            encoder.pp("LayerNorm"),
                            kernels,
                        )
                    })
                    .transpose()?;
                Ok(RelativeEmbeddings {
                    positions,
                    embeddings,
                    norm,
                })
            })
            .transpose()?;
        let layers = (0..config.num_hidden_layers)
            .map(|index| Layer::load(encoder.pp(format!("layer.{index}")), config, kernels))
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(DebertaV2Encoder {
            embeddings: Embeddings::load(weights.pp("embeddings"), config, kernels)?,
            layers,
            relative,
            heads: config.num_attention_heads,
        })
    }

    /// The relative embeddings and this batch's gather indices, shared by every layer.
    fn relative_inputs(
        &self,
        rows: usize,
        length: usize,
        device: &candle_core::Device,
    ) -> candle_core::Result<Option<RelativeInputs>> {
        let Some(relative) = &self.relative else {
            return Ok(None);
        };
        let embeddings = relative.embeddings.embeddings();
        let embeddings = match &relative.norm {
            Some(norm) => norm.forward(embeddings)?,
            None => embeddings.clone(),
        };
        let indices = |values: Vec<u32>| -> candle_core::Result<Tensor> {
            Tensor::from_vec(values, (1, 1, length, length), device)?
                .broadcast_as((rows, self.heads, length, length))?
                .contiguous()
        };
        Ok(Some(RelativeInputs {
            embeddings,
            content_to_position: indices(relative.positions.content_to_position(length))?,
            position_to_content: indices(relative.positions.position_to_content(length))?,
        }))
    }

    /// The last hidden states `[rows, len, hidden]` of a right-padded batch.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        attention_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let mut hidden = self
            .embeddings
            .forward(input_ids, type_ids, attention_mask)?;
        let (rows, length) = input_ids.dims2()?;
        let relative = self.relative_inputs(rows, length, input_ids.device())?;
        let mask = additive_mask(attention_mask, hidden.dtype())?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &mask, relative.as_ref())?;
        }
        Ok(hidden)
    }
}
