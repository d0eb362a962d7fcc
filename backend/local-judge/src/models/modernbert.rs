//! `ModernBertForSequenceClassification`, written here after the layout of candle-transformers'
//! `modernbert` (same weight names and blocks) with `transformers`' semantics:
//!
//! - embeddings: `model.embeddings.tok_embeddings` then `model.embeddings.norm`;
//! - each layer: `attn_norm` (absent in layer 0), fused `attn.Wqkv`, rotary positions, attention,
//!   `attn.Wo`, residual; `mlp_norm`, GeGLU-style `mlp.Wi` (input and gate halves) and `mlp.Wo`,
//!   residual. Every `global_attn_every_n_layers`-th layer attends globally with
//!   `global_rope_theta`; the others see only tokens within `local_attention / 2` positions and
//!   use `local_rope_theta`;
//! - `model.final_norm`, then the pooling the config names (`classifier_pooling`: `cls`, the first
//!   token, or `mean`, the mean over real tokens), `head.dense`, `classifier_activation`,
//!   `head.norm`, and `classifier`. The reward is the logit of the chosen label.
//!
//! Why not candle-transformers' `modernbert`: its classifier returns softmax probabilities rather
//! than logits; its `Config` requires `layer_norm_eps`, which ModernBERT configs call `norm_eps`,
//! and expects string values in `label2id`, where `transformers` writes numbers; it assumes no
//! biases whatever `attention_bias`, `mlp_bias`, `norm_bias` and `classifier_bias` say; and it
//! fixes both `hidden_activation` and `classifier_activation` to the erf GELU.
//!
//! Masks here are built in the model's dtype from a large finite negative value of that dtype
//! (see `mask_fill_value`), and the sliding window replaces (rather than adds to) the padding
//! mask as `transformers` does, so no row is ever all `-inf`, in f32 or in half precision.
//! Rotary tables are computed in f32 the way `transformers` computes them.

use candle_core::{D, DType, Device, Module, Tensor};
use candle_nn::{Embedding, Linear, VarBuilder, embedding, linear_b};
use serde::Deserialize;

use super::SequenceRewardModel;
use super::kernels::{Kernels, LayerNorm, rotary, softmax_last_dim};
use super::layers::{
    Activation, ModelSource, mask_fill_value, masked_mean, parse_config, reward_column,
    reward_index,
};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

fn default_max_position_embeddings() -> usize {
    8192
}

fn default_norm_eps() -> f64 {
    1e-5
}

fn default_global_rope_theta() -> f64 {
    160_000.0
}

fn default_local_rope_theta() -> Option<f64> {
    Some(10_000.0)
}

fn default_global_attn_every_n_layers() -> usize {
    3
}

fn default_local_attention() -> usize {
    128
}

/// How the token states become one vector per row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierPooling {
    /// The first token (`[CLS]`).
    #[default]
    Cls,
    /// The mean over real (unmasked) tokens.
    Mean,
}

/// The fields of a ModernBERT `config.json` the model uses, with `transformers`' defaults.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    #[serde(default = "default_max_position_embeddings")]
    max_position_embeddings: usize,
    #[serde(default = "default_norm_eps")]
    norm_eps: f64,
    #[serde(default)]
    norm_bias: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default = "default_global_rope_theta")]
    global_rope_theta: f64,
    /// Null means "the global theta", as in `transformers`.
    #[serde(default = "default_local_rope_theta")]
    local_rope_theta: Option<f64>,
    #[serde(default = "default_global_attn_every_n_layers")]
    global_attn_every_n_layers: usize,
    #[serde(default = "default_local_attention")]
    local_attention: usize,
    #[serde(default)]
    classifier_pooling: ClassifierPooling,
}

/// Cosine and sine tables `[positions, head_dim / 2]` for one rotary base, computed in f32 like
/// `transformers` (`inv_freq = 1 / base ** (2i / dim)`, `freqs = position * inv_freq`).
#[derive(Clone, Debug)]
struct RotaryTables {
    cos: Tensor,
    sin: Tensor,
    kernels: Kernels,
}

impl RotaryTables {
    fn new(
        theta: f64,
        head_dim: usize,
        positions: usize,
        dtype: DType,
        device: &Device,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let half = head_dim / 2;
        let base = theta as f32;
        let inverse: Vec<f32> = (0..half)
            .map(|index| 1.0 / base.powf((2 * index) as f32 / head_dim as f32))
            .collect();
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for position in 0..positions {
            for frequency in &inverse {
                let angle = position as f32 * frequency;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(RotaryTables {
            cos: Tensor::from_vec(cos, (positions, half), device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, (positions, half), device)?.to_dtype(dtype)?,
            kernels,
        })
    }

    /// Rotates `xs` `[rows, heads, length, head_dim]` by positions `0..length`.
    fn apply(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let length = xs.dim(2)?;
        let cos = self.cos.narrow(0, 0, length)?;
        let sin = self.sin.narrow(0, 0, length)?;
        rotary(xs, &cos, &sin, self.kernels)
    }
}

fn norm(
    size: usize,
    config: &Config,
    weights: VarBuilder<'_>,
    kernels: Kernels,
) -> candle_core::Result<LayerNorm> {
    if config.norm_bias {
        LayerNorm::load(size, config.norm_eps, weights, kernels)
    } else {
        LayerNorm::load_without_bias(size, config.norm_eps, weights, kernels)
    }
}

struct Attention {
    wqkv: Linear,
    wo: Linear,
    heads: usize,
    head_dim: usize,
    rotary: RotaryTables,
    /// Whether this layer attends within a window only.
    local: bool,
    kernels: Kernels,
}

impl Attention {
    fn forward(
        &self,
        xs: &Tensor,
        global_mask: &Tensor,
        window_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let (rows, length, hidden) = xs.dims3()?;
        let qkv = self
            .wqkv
            .forward(xs)?
            .reshape((rows, length, 3, self.heads, self.head_dim))?
            .permute((2, 0, 3, 1, 4))?;
        let query = self.rotary.apply(&qkv.get(0)?)?;
        let key = self.rotary.apply(&qkv.get(1)?)?;
        let value = qkv.get(2)?.contiguous()?;
        let scale = (self.head_dim as f64).powf(-0.5);
        let scores = (query.matmul(&key.transpose(D::Minus2, D::Minus1)?.contiguous()?)? * scale)?;
        let mask = if self.local { window_mask } else { global_mask };
        let scores = scores.broadcast_add(mask)?;
        let probabilities = softmax_last_dim(&scores, self.kernels)?;
        let context = probabilities
            .matmul(&value)?
            .transpose(1, 2)?
            .reshape((rows, length, hidden))?;
        self.wo.forward(&context)
    }
}

struct Mlp {
    wi: Linear,
    wo: Linear,
    activation: Activation,
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let both = self.wi.forward(xs)?;
        let halves = both.chunk(2, D::Minus1)?;
        let gated = (self.activation.forward(&halves[0])? * &halves[1])?;
        self.wo.forward(&gated)
    }
}

struct Layer {
    attn_norm: Option<LayerNorm>,
    attn: Attention,
    mlp_norm: LayerNorm,
    mlp: Mlp,
}

impl Layer {
    fn forward(
        &self,
        xs: &Tensor,
        global_mask: &Tensor,
        window_mask: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let normed = match &self.attn_norm {
            Some(norm) => norm.forward(xs)?,
            None => xs.clone(),
        };
        let xs = (xs + self.attn.forward(&normed, global_mask, window_mask)?)?;
        let mlp = self.mlp.forward(&self.mlp_norm.forward(&xs)?)?;
        xs + mlp
    }
}

/// `ModernBertForSequenceClassification`: `model.*` + `head.{dense,norm}` + `classifier`.
pub struct ModernBertForSequenceClassification {
    tok_embeddings: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    head_dense: Linear,
    head_activation: Activation,
    head_norm: LayerNorm,
    classifier: Linear,
    pooling: ClassifierPooling,
    /// Tokens a local layer sees on each side.
    half_window: usize,
    reward_index: usize,
    max_positions: usize,
}

impl ModernBertForSequenceClassification {
    fn new(
        config: &Config,
        activations: (Activation, Activation),
        num_labels: usize,
        reward_index: usize,
        weights: VarBuilder<'_>,
        kernels: Kernels,
    ) -> candle_core::Result<Self> {
        let (hidden_activation, head_activation) = activations;
        let hidden = config.hidden_size;
        let heads = config.num_attention_heads;
        if heads == 0 || !hidden.is_multiple_of(heads) || !(hidden / heads).is_multiple_of(2) {
            candle_core::bail!(
                "hidden size {hidden} must split into {heads} heads of an even size"
            );
        }
        let head_dim = hidden / heads;
        let every = config.global_attn_every_n_layers.max(1);
        let (dtype, device) = (weights.dtype(), weights.device().clone());
        let positions = config.max_position_embeddings;
        let global_rotary = RotaryTables::new(
            config.global_rope_theta,
            head_dim,
            positions,
            dtype,
            &device,
            kernels,
        )?;
        let local_theta = config.local_rope_theta.unwrap_or(config.global_rope_theta);
        let local_rotary =
            RotaryTables::new(local_theta, head_dim, positions, dtype, &device, kernels)?;

        let model = weights.pp("model");
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for index in 0..config.num_hidden_layers {
            let layer = model.pp(format!("layers.{index}"));
            let local = index % every != 0;
            let attn_norm = if index == 0 {
                None
            } else {
                Some(norm(hidden, config, layer.pp("attn_norm"), kernels)?)
            };
            layers.push(Layer {
                attn_norm,
                attn: Attention {
                    wqkv: linear_b(
                        hidden,
                        3 * hidden,
                        config.attention_bias,
                        layer.pp("attn.Wqkv"),
                    )?,
                    wo: linear_b(hidden, hidden, config.attention_bias, layer.pp("attn.Wo"))?,
                    heads,
                    head_dim,
                    rotary: if local {
                        local_rotary.clone()
                    } else {
                        global_rotary.clone()
                    },
                    local,
                    kernels,
                },
                mlp_norm: norm(hidden, config, layer.pp("mlp_norm"), kernels)?,
                mlp: Mlp {
                    wi: linear_b(
                        hidden,
                        2 * config.intermediate_size,
                        config.mlp_bias,
                        layer.pp("mlp.Wi"),
                    )?,
                    wo: linear_b(
                        config.intermediate_size,
                        hidden,
                        config.mlp_bias,
                        layer.pp("mlp.Wo"),
                    )?,
                    activation: hidden_activation,
                },
            });
        }
        Ok(ModernBertForSequenceClassification {
            tok_embeddings: embedding(
                config.vocab_size,
                hidden,
                model.pp("embeddings.tok_embeddings"),
            )?,
            embeddings_norm: norm(hidden, config, model.pp("embeddings.norm"), kernels)?,
            layers,
            final_norm: norm(hidden, config, model.pp("final_norm"), kernels)?,
            head_dense: linear_b(
                hidden,
                hidden,
                config.classifier_bias,
                weights.pp("head.dense"),
            )?,
            head_activation,
            head_norm: norm(hidden, config, weights.pp("head.norm"), kernels)?,
            classifier: candle_nn::linear(hidden, num_labels, weights.pp("classifier"))?,
            pooling: config.classifier_pooling,
            half_window: config.local_attention / 2,
            reward_index,
            max_positions: positions,
        })
    }

    /// Additive masks `[rows, 1, length, length]` in `dtype`: padding only (global layers), and
    /// padding plus the sliding window (local layers).
    fn masks(&self, batch: &PaddedBatch, dtype: DType) -> candle_core::Result<(Tensor, Tensor)> {
        let device = batch.attention_mask.device();
        let (rows, length) = batch.attention_mask.dims2()?;
        let shape = (rows, 1, length, length);
        let blocked = Tensor::full(mask_fill_value(dtype), shape, device)?.to_dtype(dtype)?;
        let open = Tensor::zeros(shape, dtype, device)?;
        let real_keys = batch
            .attention_mask
            .ne(0u32)?
            .reshape((rows, 1, 1, length))?
            .broadcast_as(shape)?
            .contiguous()?;
        let global = real_keys.where_cond(&open, &blocked)?;
        let near: Vec<u8> = (0..length)
            .flat_map(|query| {
                (0..length).map(move |key| u8::from(query.abs_diff(key) <= self.half_window))
            })
            .collect();
        let near = Tensor::from_vec(near, (1, 1, length, length), device)?
            .broadcast_as(shape)?
            .contiguous()?;
        let window = near.where_cond(&global, &blocked)?;
        Ok((global, window))
    }

    /// Logits `[rows, num_labels]` of a padded batch.
    pub fn logits(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let mut xs = self
            .embeddings_norm
            .forward(&self.tok_embeddings.forward(&batch.input_ids)?)?;
        let (global, window) = self.masks(batch, xs.dtype())?;
        for layer in &self.layers {
            xs = layer.forward(&xs, &global, &window)?;
        }
        let xs = self.final_norm.forward(&xs)?;
        let pooled = match self.pooling {
            ClassifierPooling::Cls => xs.narrow(1, 0, 1)?.squeeze(1)?.contiguous()?,
            ClassifierPooling::Mean => masked_mean(&xs, &batch.attention_mask)?,
        };
        let head = self.head_norm.forward(
            &self
                .head_activation
                .forward(&self.head_dense.forward(&pooled)?)?,
        )?;
        self.classifier.forward(&head)
    }
}

impl SequenceRewardModel for ModernBertForSequenceClassification {
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        reward_column(&self.logits(batch)?, self.reward_index)
    }

    fn max_positions(&self) -> Option<usize> {
        Some(self.max_positions)
    }
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    let config: Config = parse_config(&source)?;
    let hidden_activation = Activation::from_config(&source, "hidden_activation", "gelu")?;
    let head_activation = Activation::from_config(&source, "classifier_activation", "gelu")?;
    let (labels, reward_index) = reward_index(&source)?;
    let model = ModernBertForSequenceClassification::new(
        &config,
        (hidden_activation, head_activation),
        labels,
        reward_index,
        source.weights.clone(),
        source.kernels,
    )
    .map_err(LocalJudgeError::model(
        "loading ModernBertForSequenceClassification",
    ))?;
    Ok(Box::new(model))
}
