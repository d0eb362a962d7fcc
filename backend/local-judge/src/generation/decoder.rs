//! The causal language model the generation engine runs: the decoder of Qwen2, Qwen3 and Llama
//! (the same layout as [`crate::models::decoder`], whose settings it reads) with a language-model
//! head and a [`BatchCache`], built either from a `*ForCausalLM` folder (dense weights) or from a
//! GGUF file (quantized matrices through candle's `QMatMul`).
//!
//! Why not candle-transformers' `qwen2`, `llama`, `quantized_llama` or `quantized_qwen2`: they
//! keep one cache position for the whole batch, so rows of different lengths cannot share a
//! batch, and their masks ignore padding (see `models/decoder.rs` for the other traps). Here
//! every row has its own positions and padding ([`super::cache`]).
//!
//! Attention groups the query heads by key/value head instead of repeating the cache
//! (`repeat_kv`), so a decoding step reads each cached key once. Scores and the softmax are in
//! f32 whatever the model's dtype; rotary tables are computed in f32 from each row's positions.

use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear};

use super::cache::BatchCache;
use crate::models::decoder::DecoderSettings;
use crate::models::kernels::{Kernels, RmsNorm, softmax_last_dim};
use crate::models::vectorised;

/// A weight matrix: dense (safetensors) or quantized (GGUF).
#[derive(Debug)]
pub enum Projection {
    /// `y = x Wᵀ + b` with a dense weight.
    Dense(Linear),
    /// `y = x Wᵀ + b` with a GGUF-quantized (or f16/f32) weight.
    Quantized {
        /// The weight, `[out, in]`.
        weight: QMatMul,
        /// The bias, `[out]`, when the layer has one.
        bias: Option<Tensor>,
    },
}

impl Module for Projection {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Projection::Dense(linear) => linear.forward(xs),
            Projection::Quantized { weight, bias } => {
                let ys = weight.forward(xs)?;
                match bias {
                    Some(bias) => ys.broadcast_add(bias),
                    None => Ok(ys),
                }
            }
        }
    }
}

impl Projection {
    /// Whether the matmul rounds its input to 8 bits (a quantized weight on candle's kernels).
    pub fn quantizes_activations(&self) -> bool {
        matches!(
            self,
            Projection::Quantized {
                weight: QMatMul::QTensor(_),
                ..
            }
        )
    }
}

/// How rotary embeddings pair the dimensions of a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RotaryLayout {
    /// Dimension `i` with `i + head_dim / 2` (`transformers`' `rotate_half`; GGUF qwen2).
    HalfSplit,
    /// Dimension `2i` with `2i + 1`: GGUF llama files, whose query and key rows llama.cpp's
    /// converter permuted into this order.
    Interleaved,
}

/// One decoder layer's weights.
#[derive(Debug)]
pub struct LayerWeights {
    /// Query projection.
    pub q_proj: Projection,
    /// Key projection.
    pub k_proj: Projection,
    /// Value projection.
    pub v_proj: Projection,
    /// Output projection.
    pub o_proj: Projection,
    /// Per-head query norm (Qwen3).
    pub q_norm: Option<RmsNorm>,
    /// Per-head key norm (Qwen3).
    pub k_norm: Option<RmsNorm>,
    /// MLP gate.
    pub gate_proj: Projection,
    /// MLP up projection.
    pub up_proj: Projection,
    /// MLP down projection.
    pub down_proj: Projection,
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
}

/// Everything a [`CausalDecoder`] is built from; the folder and GGUF loaders fill it.
#[derive(Debug)]
pub struct DecoderWeights {
    /// Token embedding `[vocab, hidden]`, in the activation dtype.
    pub embed_tokens: Tensor,
    /// The layers.
    pub layers: Vec<LayerWeights>,
    /// Final norm.
    pub norm: RmsNorm,
    /// Language-model head (the embedding itself when tied).
    pub lm_head: Projection,
}

/// A causal decoder with a language-model head.
#[derive(Debug)]
pub struct CausalDecoder {
    embed_tokens: Embedding,
    layers: Vec<LayerWeights>,
    norm: RmsNorm,
    lm_head: Projection,
    inverse_frequencies: Vec<f32>,
    rotary_layout: RotaryLayout,
    num_heads: usize,
    num_kv_heads: usize,
    head_dim: usize,
    dtype: DType,
    device: Device,
    vocab_size: usize,
    max_positions: usize,
    /// Whether a layer has quantized matrices, so that attention over padded rows runs per row.
    exact_batching: bool,
}

impl CausalDecoder {
    /// Assembles a model; `dtype` is the activations' (the embedding's) dtype.
    pub fn new(
        settings: &DecoderSettings,
        weights: DecoderWeights,
        rotary_layout: RotaryLayout,
    ) -> candle_core::Result<CausalDecoder> {
        if settings.num_key_value_heads == 0
            || !settings
                .num_attention_heads
                .is_multiple_of(settings.num_key_value_heads)
        {
            candle_core::bail!(
                "{} attention heads cannot be grouped over {} key/value heads",
                settings.num_attention_heads,
                settings.num_key_value_heads
            );
        }
        if weights.layers.len() != settings.num_hidden_layers {
            candle_core::bail!(
                "{} layers of weights for {} layers",
                weights.layers.len(),
                settings.num_hidden_layers
            );
        }
        let exact_batching = weights.layers.iter().any(|layer| {
            [
                &layer.q_proj,
                &layer.k_proj,
                &layer.v_proj,
                &layer.o_proj,
                &layer.gate_proj,
                &layer.up_proj,
                &layer.down_proj,
            ]
            .into_iter()
            .any(Projection::quantizes_activations)
        });
        let dtype = weights.embed_tokens.dtype();
        let device = weights.embed_tokens.device().clone();
        let (vocab_size, hidden) = weights.embed_tokens.dims2()?;
        Ok(CausalDecoder {
            embed_tokens: Embedding::new(weights.embed_tokens, hidden),
            layers: weights.layers,
            norm: weights.norm,
            lm_head: weights.lm_head,
            inverse_frequencies: settings.inverse_frequencies.clone(),
            rotary_layout,
            num_heads: settings.num_attention_heads,
            num_kv_heads: settings.num_key_value_heads,
            head_dim: settings.head_dim,
            dtype,
            device,
            vocab_size,
            max_positions: settings.max_position_embeddings,
            exact_batching,
        })
    }

    /// `cos` and `sin` `[rows, len, head_dim / 2]` of each new token's position, in f32 (as
    /// `transformers` computes them), then in the model's dtype.
    fn rotary_tables(
        &self,
        positions: &[u32],
        rows: usize,
        len: usize,
    ) -> candle_core::Result<(Tensor, Tensor)> {
        let half = self.inverse_frequencies.len();
        let mut cos = Vec::with_capacity(positions.len() * half);
        let mut sin = Vec::with_capacity(positions.len() * half);
        for &position in positions {
            for frequency in &self.inverse_frequencies {
                let angle = position as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let cos = Tensor::from_vec(cos, (rows, len, half), &self.device)?.to_dtype(self.dtype)?;
        let sin = Tensor::from_vec(sin, (rows, len, half), &self.device)?.to_dtype(self.dtype)?;
        Ok((cos, sin))
    }

    fn rotate(&self, xs: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
        match self.rotary_layout {
            RotaryLayout::HalfSplit => candle_nn::rotary_emb::rope(xs, cos, sin),
            RotaryLayout::Interleaved => candle_nn::rotary_emb::rope_i(xs, cos, sin),
        }
    }

    /// `[rows, len, heads * head_dim]` → `[rows, heads, len, head_dim]`, normed per head.
    fn split_heads(
        &self,
        xs: &Tensor,
        heads: usize,
        norm: Option<&RmsNorm>,
    ) -> candle_core::Result<Tensor> {
        let (rows, len, _) = xs.dims3()?;
        let xs = xs.reshape((rows, len, heads, self.head_dim))?;
        let xs = match norm {
            Some(norm) => xs.apply(norm)?,
            None => xs,
        };
        xs.transpose(1, 2)?.contiguous()
    }

    fn attention(
        &self,
        layer_index: usize,
        layer: &LayerWeights,
        xs: &Tensor,
        rotary: (&Tensor, &Tensor),
        mask: &Tensor,
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor> {
        let (rows, len, _) = xs.dims3()?;
        let queries = self.split_heads(
            &xs.apply(&layer.q_proj)?,
            self.num_heads,
            layer.q_norm.as_ref(),
        )?;
        let keys = self.split_heads(
            &xs.apply(&layer.k_proj)?,
            self.num_kv_heads,
            layer.k_norm.as_ref(),
        )?;
        let values = self.split_heads(&xs.apply(&layer.v_proj)?, self.num_kv_heads, None)?;
        let queries = self.rotate(&queries, rotary.0, rotary.1)?;
        let keys = self.rotate(&keys, rotary.0, rotary.1)?;
        let (keys, values) = cache.append(layer_index, keys, values)?;
        let padding = cache.padding();
        let output = if !self.exact_batching || padding.iter().all(|&pad| pad == 0) {
            self.attend(&queries, &keys, &values, mask)?
        } else {
            // Each row over its own real slots only: with padding in the matrices, the kernels
            // sum in another order, and layers with quantized matrices (whose activations are
            // rounded to 8 bits) turn such rounding differences into different tokens. Per row,
            // a batched row computes exactly what it computes alone, so batching changes no
            // output. Dense layers differ by rounding only (1e-6) and take the batched path.
            let total = keys.dim(2)?;
            let start = total - len;
            let mut rows_output = Vec::with_capacity(rows);
            for (row, &pad) in padding.iter().enumerate() {
                let first_query = pad.saturating_sub(start);
                let real = len - first_query;
                let attended = self.attend(
                    &queries
                        .narrow(0, row, 1)?
                        .narrow(2, first_query, real)?
                        .contiguous()?,
                    &keys.narrow(0, row, 1)?.narrow(2, pad, total - pad)?,
                    &values.narrow(0, row, 1)?.narrow(2, pad, total - pad)?,
                    &mask
                        .narrow(0, row, 1)?
                        .narrow(3, first_query, real)?
                        .narrow(4, pad, total - pad)?
                        .contiguous()?,
                )?;
                // Padding queries get zeros: nothing reads them.
                rows_output.push(if first_query > 0 {
                    let zeros = Tensor::zeros(
                        (1, self.num_heads, first_query, self.head_dim),
                        attended.dtype(),
                        attended.device(),
                    )?;
                    Tensor::cat(&[&zeros, &attended], 2)?
                } else {
                    attended
                });
            }
            Tensor::cat(&rows_output, 0)?
        };
        output
            .transpose(1, 2)?
            .reshape((rows, len, self.num_heads * self.head_dim))?
            .apply(&layer.o_proj)
    }

    /// Scaled dot-product attention of `queries` `[rows, heads, len, head_dim]` over `keys` and
    /// `values` `[rows, kv_heads, slots, head_dim]` with the additive `mask`
    /// `[rows, 1, 1, len, slots]`; returns `[rows, heads, len, head_dim]`.
    fn attend(
        &self,
        queries: &Tensor,
        keys: &Tensor,
        values: &Tensor,
        mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (rows, _, len, _) = queries.dims4()?;
        let slots = keys.dim(2)?;
        let groups = self.num_heads / self.num_kv_heads;
        // Query head h reads key/value head h / groups (`repeat_kv`'s order), so the query heads
        // of one group stack into rows of one matmul against their shared keys.
        let queries = queries.reshape((rows, self.num_kv_heads, groups * len, self.head_dim))?;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (queries.matmul(&keys.t()?)? * scale)?.to_dtype(DType::F32)?;
        let scores = scores
            .reshape((rows, self.num_kv_heads, groups, len, slots))?
            .broadcast_add(mask)?;
        let weights = softmax_last_dim(&scores, Kernels::Fused)?
            .to_dtype(values.dtype())?
            .reshape((rows, self.num_kv_heads, groups * len, slots))?;
        weights
            .matmul(&values.contiguous()?)?
            .reshape((rows, self.num_heads, len, self.head_dim))
    }
}

impl CausalDecoder {
    /// The token embeddings `[rows, len, hidden]` of `input_ids` `[rows, len]`.
    pub fn embed(&self, input_ids: &Tensor) -> candle_core::Result<Tensor> {
        self.embed_tokens.forward(input_ids)
    }

    /// Runs `embeddings` `[rows, len, hidden]` (of which the first `padding[row]` positions of
    /// each row are padding, allowed only while `cache` is empty) after what `cache` holds,
    /// appends their keys and values to it, and returns the f32 logits `[rows, vocab]` at each
    /// row's last position. `rotary` is the new tokens' `cos` and `sin` `[rows, len, head_dim /
    /// 2]` (f32; models with their own positions, such as M-RoPE, pass them); without it each
    /// token is rotated by its index among its row's real tokens.
    pub fn forward_embeddings(
        &self,
        embeddings: Tensor,
        padding: &[usize],
        rotary: Option<(&Tensor, &Tensor)>,
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor> {
        let (rows, len, _) = embeddings.dims3()?;
        let step = cache.step(padding, len, &self.device)?;
        let (cos, sin) = match rotary {
            Some((cos, sin)) => (cos.to_dtype(self.dtype)?, sin.to_dtype(self.dtype)?),
            None => self.rotary_tables(&step.positions, rows, len)?,
        };
        let mask = step.mask;
        let mut xs = embeddings;
        for (index, layer) in self.layers.iter().enumerate() {
            let attended = self.attention(
                index,
                layer,
                &xs.apply(&layer.input_layernorm)?,
                (&cos, &sin),
                &mask,
                cache,
            )?;
            xs = (xs + attended)?;
            let gate = xs.apply(&layer.post_attention_layernorm)?.contiguous()?;
            let mlp = (vectorised::silu(&gate.apply(&layer.gate_proj)?)?
                * gate.apply(&layer.up_proj)?)?
            .apply(&layer.down_proj)?;
            xs = (xs + mlp)?;
        }
        cache.commit(len);
        // Only the last position's logits are needed; the norm is per token.
        xs.narrow(1, len - 1, 1)?
            .squeeze(1)?
            .apply(&self.norm)?
            .contiguous()?
            .apply(&self.lm_head)?
            .to_dtype(DType::F32)
    }
}

impl super::CausalLanguageModel for CausalDecoder {
    fn forward(
        &self,
        input_ids: &Tensor,
        padding: &[usize],
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor> {
        self.forward_embeddings(self.embed(input_ids)?, padding, None, cache)
    }

    fn new_cache(&self) -> BatchCache {
        BatchCache::new(self.layers.len())
    }

    fn device(&self) -> &Device {
        &self.device
    }

    fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn max_positions(&self) -> usize {
        self.max_positions
    }
}

/// `[rows, vocab]` of f32 logits → each row as a vector.
pub fn logits_rows(logits: &Tensor) -> candle_core::Result<Vec<Vec<f32>>> {
    logits.to_dtype(DType::F32)?.to_vec2::<f32>()
}

/// The index of the largest value; the first of equal ones, like `torch.argmax`.
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (index, value) in values.iter().enumerate() {
        if *value > values[best] {
            best = index;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::CausalLanguageModel;
    use super::*;

    /// The per-row attention quantized models take over padded rows gives what each row gives
    /// alone (on the dense fixture, whose layers would otherwise take the batched path; its
    /// dense matmuls round differently with the number of rows, so to 1e-4, not bit for bit).
    #[test]
    fn per_row_attention_over_padded_rows_equals_each_row_alone() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qwen2_causal");
        let mut model = super::super::folder::load(&folder, &Device::Cpu)
            .expect("fixture loads")
            .model;
        model.exact_batching = true;
        let rows: [Vec<u32>; 2] = [vec![5, 9, 13, 2, 7], vec![3, 8]];
        let alone: Vec<Vec<f32>> = rows
            .iter()
            .map(|ids| {
                let input = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu).expect("ids");
                model
                    .forward(&input, &[0], &mut model.new_cache())
                    .and_then(|logits| logits.to_vec2::<f32>())
                    .expect("forward")
                    .remove(0)
            })
            .collect();
        let padded: Vec<u32> = [vec![3; 3], rows[1].clone(), rows[0].clone()].concat();
        let input = Tensor::from_slice(&padded, (2, 5), &Device::Cpu).expect("ids");
        let mut cache = model.new_cache();
        let together = model
            .forward(&input, &[3, 0], &mut cache)
            .and_then(|logits| logits.to_vec2::<f32>())
            .expect("forward");
        let close = |first: &[f32], second: &[f32]| {
            first.iter().zip(second).all(|(a, b)| (a - b).abs() < 1e-4)
        };
        assert!(close(&together[0], &alone[1]));
        assert!(close(&together[1], &alone[0]));
        // A decoding step over the padded cache, too.
        let step = Tensor::from_slice(&[4u32, 4], (2, 1), &Device::Cpu).expect("ids");
        let next = model.forward(&step, &[0, 0], &mut cache).expect("step");
        let mut short = model.new_cache();
        let prompt = Tensor::from_slice(&rows[1], (1, 2), &Device::Cpu).expect("ids");
        model.forward(&prompt, &[0], &mut short).expect("prefill");
        let single = Tensor::from_slice(&[4u32], (1, 1), &Device::Cpu).expect("ids");
        let alone_next = model.forward(&single, &[0], &mut short).expect("step");
        assert!(close(
            &next.to_vec2::<f32>().expect("f32")[0],
            &alone_next.to_vec2::<f32>().expect("f32")[0]
        ));
    }
}
