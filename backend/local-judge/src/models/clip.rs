//! `CLIPModel` (PickScore, HPSv2 and other CLIP-based image reward models) as an
//! [`ImageTextModel`]: the reward of an image for a text is `logit_scale.exp() * cosine`, as in
//! `transformers`' `logits_per_text`.
//!
//! The layout follows candle-transformers' `clip` module and `transformers` 4.57.3's
//! `modeling_clip.py`, but the code is our own, for reasons that change results:
//!
//! - candle's text tower always uses `quick_gelu` and a fixed layer-norm epsilon; checkpoints say
//!   which (`hidden_act`, `layer_norm_eps`: LAION's ViT-H, the base of PickScore and HPSv2, uses
//!   `gelu`);
//! - candle pools the text at `input_ids.argmax()`. `transformers` does that only for configs with
//!   the legacy `eos_token_id == 2`, and otherwise pools at the first position of
//!   `eos_token_id`; both are mirrored here ([`TextPooling`]), including the argmax running over
//!   the padded row and a row without EOS pooling at position 0;
//! - padding is masked as well as future positions (padding is on the right, so only the legacy
//!   argmax pooling, which may land on padding, can see the difference);
//! - the projections take the top-level `projection_dim` (the sections' own `projection_dim` is
//!   not what `CLIPModel` uses);
//! - attention scores and softmax run in f32 whatever the model dtype, like `transformers`'
//!   eager attention, and `logit_scale` is read in f32 so a bf16 run keeps its exact scale;
//! - layer norms and the attention softmax go through [`Kernels`], so that a model built with
//!   [`Kernels::Differentiable`] can be trained (`omnireward train --train all`), and
//!   `logit_scale` is a weight the builder hands out (a trainable variable in training).
//!
//! The transformer encoder here ([`Encoder`]) is shared with [`super::siglip`], whose layers have
//! the same layout and weight names, and so is the loading of both towers (`load_towers`).

use candle_core::{D, DType, Device, IndexOp, Module, Shape, Tensor};
use candle_nn::{Conv2dConfig, Embedding, Init, Linear, VarBuilder};
use serde::Deserialize;

use super::ImageTextModel;
use super::kernels::{Kernels, LayerNorm, softmax_last_dim};
use super::layers::{ModelSource, config_error, config_field, config_section, l2_normalize};
use super::vectorised;
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

/// The activations image-text checkpoints name in `hidden_act`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub(crate) enum Activation {
    /// `x * sigmoid(1.702 x)` (OpenAI CLIP).
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// The exact, erf-based GELU.
    #[serde(rename = "gelu")]
    Gelu,
    /// The tanh approximation of GELU (SigLIP; `gelu_new` and `gelu_fast` are the same formula).
    #[serde(rename = "gelu_pytorch_tanh", alias = "gelu_new", alias = "gelu_fast")]
    GeluTanh,
    /// `max(x, 0)`.
    #[serde(rename = "relu")]
    Relu,
}

impl Module for Activation {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Activation::QuickGelu => vectorised::quick_gelu(xs),
            Activation::Gelu => vectorised::gelu_erf(xs),
            Activation::GeluTanh => vectorised::gelu_tanh(xs),
            Activation::Relu => xs.relu(),
        }
    }
}

/// The sizes of one pre-layer-norm transformer encoder.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EncoderSettings {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub layer_norm_eps: f64,
    pub activation: Activation,
    pub kernels: Kernels,
}

/// Multi-head scaled dot-product attention over already projected `q` `[b, lq, h]`, `k` and `v`
/// `[b, lk, h]`; `mask` (f32, broadcastable to `[b, heads, lq, lk]`) is added to the scores.
/// Scores and softmax run in f32; the result is `[b, lq, h]` in the dtype of `q`.
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    mask: Option<&Tensor>,
    kernels: Kernels,
) -> candle_core::Result<Tensor> {
    let (batch, query_length, hidden) = q.dims3()?;
    let key_length = k.dim(1)?;
    let head_dim = hidden / heads;
    let split = |xs: &Tensor, length: usize| -> candle_core::Result<Tensor> {
        xs.reshape((batch, length, heads, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q_heads, k_heads, v_heads) = (
        split(q, query_length)?,
        split(k, key_length)?,
        split(v, key_length)?,
    );
    let scores = q_heads
        .matmul(&k_heads.t()?)?
        .to_dtype(DType::F32)?
        .affine((head_dim as f64).powf(-0.5), 0.0)?;
    let scores = match mask {
        Some(mask) => scores.broadcast_add(mask)?,
        None => scores,
    };
    let weights = softmax_last_dim(&scores, kernels)?.to_dtype(v.dtype())?;
    weights
        .matmul(&v_heads)?
        .transpose(1, 2)?
        .reshape((batch, query_length, hidden))
}

struct SelfAttention {
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
    kernels: Kernels,
}

impl SelfAttention {
    fn new(vb: VarBuilder, settings: &EncoderSettings) -> candle_core::Result<Self> {
        let hidden = settings.hidden_size;
        Ok(SelfAttention {
            q_proj: candle_nn::linear(hidden, hidden, vb.pp("q_proj"))?,
            k_proj: candle_nn::linear(hidden, hidden, vb.pp("k_proj"))?,
            v_proj: candle_nn::linear(hidden, hidden, vb.pp("v_proj"))?,
            out_proj: candle_nn::linear(hidden, hidden, vb.pp("out_proj"))?,
            heads: settings.num_attention_heads,
            kernels: settings.kernels,
        })
    }

    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let attended = attend(
            &xs.apply(&self.q_proj)?,
            &xs.apply(&self.k_proj)?,
            &xs.apply(&self.v_proj)?,
            self.heads,
            mask,
            self.kernels,
        )?;
        attended.apply(&self.out_proj)
    }
}

/// `fc1`, activation, `fc2`.
pub(crate) struct Mlp {
    fc1: Linear,
    fc2: Linear,
    activation: Activation,
}

impl Mlp {
    pub(crate) fn new(vb: VarBuilder, settings: &EncoderSettings) -> candle_core::Result<Self> {
        Ok(Mlp {
            fc1: candle_nn::linear(
                settings.hidden_size,
                settings.intermediate_size,
                vb.pp("fc1"),
            )?,
            fc2: candle_nn::linear(
                settings.intermediate_size,
                settings.hidden_size,
                vb.pp("fc2"),
            )?,
            activation: settings.activation,
        })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        xs.apply(&self.fc1)?
            .apply(&self.activation)?
            .apply(&self.fc2)
    }
}

struct EncoderLayer {
    self_attn: SelfAttention,
    layer_norm1: LayerNorm,
    mlp: Mlp,
    layer_norm2: LayerNorm,
}

impl EncoderLayer {
    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let attended = self
            .self_attn
            .forward(&xs.apply(&self.layer_norm1)?, mask)?;
        let xs = (xs + attended)?;
        let transformed = xs.apply(&self.layer_norm2)?.apply(&self.mlp)?;
        xs + transformed
    }
}

/// `encoder.layers.N.{self_attn,layer_norm1,mlp,layer_norm2}`: the encoder of CLIP's and
/// SigLIP's towers.
pub(crate) struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub(crate) fn new(vb: VarBuilder, settings: &EncoderSettings) -> candle_core::Result<Self> {
        let vb = vb.pp("layers");
        let hidden = settings.hidden_size;
        let layers = (0..settings.num_hidden_layers)
            .map(|index| {
                let vb = vb.pp(index);
                Ok(EncoderLayer {
                    self_attn: SelfAttention::new(vb.pp("self_attn"), settings)?,
                    layer_norm1: LayerNorm::load(
                        hidden,
                        settings.layer_norm_eps,
                        vb.pp("layer_norm1"),
                        settings.kernels,
                    )?,
                    mlp: Mlp::new(vb.pp("mlp"), settings)?,
                    layer_norm2: LayerNorm::load(
                        hidden,
                        settings.layer_norm_eps,
                        vb.pp("layer_norm2"),
                        settings.kernels,
                    )?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Encoder { layers })
    }

    pub(crate) fn forward(
        &self,
        xs: &Tensor,
        mask: Option<&Tensor>,
    ) -> candle_core::Result<Tensor> {
        let mut xs = xs.clone();
        for layer in &self.layers {
            xs = layer.forward(&xs, mask)?;
        }
        Ok(xs)
    }
}

/// A scalar parameter (`logit_scale`, `logit_bias`) as an f32 tensor of shape `[]`, taken
/// through the builder (so that training gets it as a variable and saves it). Its stored shape
/// (`[]` in CLIP checkpoints, `[1]` in SigLIP's) is read from the weights and kept; weights
/// without it (training from scratch) get `default_shape` filled with `initial`.
pub(crate) fn scalar_parameter(
    vb: &VarBuilder,
    name: &str,
    default_shape: &[usize],
    initial: f64,
) -> candle_core::Result<Tensor> {
    let shape = if vb.contains_tensor(name) {
        vb.get_unchecked_dtype(name, DType::F32)?.shape().clone()
    } else {
        Shape::from(default_shape.to_vec())
    };
    if shape.elem_count() != 1 {
        candle_core::bail!("{name}: expected one value, found shape {shape:?}");
    }
    vb.get_with_hints_dtype(shape, name, Init::Const(initial), DType::F32)?
        .reshape(())
}

/// A tower's config section (`text_config` or `vision_config` of CLIP or SigLIP). The fields
/// that size the encoder have the same names in all four sections; [`tower_config!`] implements
/// this from them, so that each family's file states only its sections and their defaults.
pub(crate) trait TowerConfig {
    /// The encoder settings the section states, built on `kernels`.
    fn encoder_settings(&self, kernels: Kernels) -> EncoderSettings;
}

/// Implements [`TowerConfig`] for config sections with the fields `hidden_size`,
/// `intermediate_size`, `num_attention_heads`, `num_hidden_layers`, `layer_norm_eps` and
/// `hidden_act` (an [`Activation`]).
macro_rules! tower_config {
    ($($section:ty),+ $(,)?) => {$(
        impl $crate::models::clip::TowerConfig for $section {
            fn encoder_settings(
                &self,
                kernels: $crate::models::kernels::Kernels,
            ) -> $crate::models::clip::EncoderSettings {
                $crate::models::clip::EncoderSettings {
                    hidden_size: self.hidden_size,
                    intermediate_size: self.intermediate_size,
                    num_attention_heads: self.num_attention_heads,
                    num_hidden_layers: self.num_hidden_layers,
                    layer_norm_eps: self.layer_norm_eps,
                    activation: self.hidden_act,
                    kernels,
                }
            }
        }
    )+};
}
pub(crate) use tower_config;

/// What CLIP's and SigLIP's `load` share once their sections are read: both towers' encoder
/// settings, checked ([`check_sizes`]; `image` is the vision section's image and patch size),
/// then `build` with them; `family` names the model when the weights do not fit.
pub(crate) fn load_towers<M: ImageTextModel + 'static>(
    source: &ModelSource<'_>,
    family: &str,
    text: &impl TowerConfig,
    vision: &impl TowerConfig,
    image: (usize, usize),
    build: impl FnOnce(&EncoderSettings, &EncoderSettings) -> candle_core::Result<M>,
) -> Result<Box<dyn ImageTextModel>, LocalJudgeError> {
    let text_settings = text.encoder_settings(source.kernels);
    let vision_settings = vision.encoder_settings(source.kernels);
    check_sizes(source, "text_config", &text_settings, None)?;
    check_sizes(source, "vision_config", &vision_settings, Some(image))?;
    build(&text_settings, &vision_settings)
        .map(|model| Box::new(model) as Box<dyn ImageTextModel>)
        .map_err(LocalJudgeError::model(format!(
            "building {family} from its weights"
        )))
}

/// Checks that attention heads divide the hidden size and patches tile the image.
pub(crate) fn check_sizes(
    source: &ModelSource<'_>,
    section: &str,
    settings: &EncoderSettings,
    image: Option<(usize, usize)>,
) -> Result<(), LocalJudgeError> {
    if settings.num_attention_heads == 0
        || !settings
            .hidden_size
            .is_multiple_of(settings.num_attention_heads)
    {
        return Err(config_error(
            source.config_file,
            &format!("{section}.num_attention_heads"),
            format!(
                "{} heads do not divide hidden_size {}",
                settings.num_attention_heads, settings.hidden_size
            ),
        ));
    }
    if let Some((image_size, patch_size)) = image
        && (patch_size == 0 || !image_size.is_multiple_of(patch_size))
    {
        return Err(config_error(
            source.config_file,
            &format!("{section}.patch_size"),
            format!("patches of {patch_size} pixels do not tile images of {image_size}"),
        ));
    }
    Ok(())
}

/// Builds the 4D attention mask `[rows, 1, length, length]` (0 where a query may look, f32 MIN
/// elsewhere) that hides padding keys and, when `causal`, later positions.
pub(crate) fn attention_mask(
    lengths: &[usize],
    length: usize,
    causal: bool,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let mut mask = Vec::with_capacity(lengths.len() * length * length);
    for &real in lengths {
        for query in 0..length {
            for key in 0..length {
                let visible = key < real && (!causal || key <= query);
                mask.push(if visible { 0.0f32 } else { f32::MIN });
            }
        }
    }
    Tensor::from_vec(mask, (lengths.len(), 1, length, length), device)
}

/// Fails with a clear message unless `pixels` is `[n, channels, size, size]`.
pub(crate) fn check_pixels(
    pixels: &Tensor,
    channels: usize,
    image_size: usize,
) -> candle_core::Result<()> {
    let (_, given_channels, height, width) = pixels.dims4()?;
    if given_channels != channels || height != image_size || width != image_size {
        candle_core::bail!(
            "the vision tower takes {channels}x{image_size}x{image_size} pixels, got \
             {given_channels}x{height}x{width} (check preprocessor_config.json)"
        );
    }
    Ok(())
}

fn default_text_vocab_size() -> usize {
    49408
}
fn default_text_hidden_size() -> usize {
    512
}
fn default_text_intermediate_size() -> usize {
    2048
}
fn default_text_heads() -> usize {
    8
}
fn default_text_positions() -> usize {
    77
}
fn default_eos_token_id() -> u32 {
    49407
}
fn default_vision_hidden_size() -> usize {
    768
}
fn default_vision_intermediate_size() -> usize {
    3072
}
fn default_layers() -> usize {
    12
}
fn default_vision_heads() -> usize {
    12
}
fn default_channels() -> usize {
    3
}
fn default_image_size() -> usize {
    224
}
fn default_patch_size() -> usize {
    32
}
fn default_activation() -> Activation {
    Activation::QuickGelu
}
fn default_layer_norm_eps() -> f64 {
    1e-5
}
fn default_projection_dim() -> usize {
    512
}

/// `text_config`, with `CLIPTextConfig`'s defaults.
#[derive(Debug, Deserialize)]
struct TextConfig {
    #[serde(default = "default_text_vocab_size")]
    vocab_size: usize,
    #[serde(default = "default_text_hidden_size")]
    hidden_size: usize,
    #[serde(default = "default_text_intermediate_size")]
    intermediate_size: usize,
    #[serde(default = "default_layers")]
    num_hidden_layers: usize,
    #[serde(default = "default_text_heads")]
    num_attention_heads: usize,
    #[serde(default = "default_text_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_activation")]
    hidden_act: Activation,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_eos_token_id")]
    eos_token_id: u32,
}

/// `vision_config`, with `CLIPVisionConfig`'s defaults.
#[derive(Debug, Deserialize)]
struct VisionConfig {
    #[serde(default = "default_vision_hidden_size")]
    hidden_size: usize,
    #[serde(default = "default_vision_intermediate_size")]
    intermediate_size: usize,
    #[serde(default = "default_layers")]
    num_hidden_layers: usize,
    #[serde(default = "default_vision_heads")]
    num_attention_heads: usize,
    #[serde(default = "default_channels")]
    num_channels: usize,
    #[serde(default = "default_image_size")]
    image_size: usize,
    #[serde(default = "default_patch_size")]
    patch_size: usize,
    #[serde(default = "default_activation")]
    hidden_act: Activation,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
}

tower_config!(TextConfig, VisionConfig);

/// Where the text tower reads its pooled state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextPooling {
    /// `eos_token_id == 2` (configs written before transformers PR #24773): the position of the
    /// largest id in the padded row.
    ArgmaxId,
    /// The first position holding this id (0 when none does, as `argmax` of all zeros).
    FirstId(u32),
}

impl TextPooling {
    fn for_eos(eos_token_id: u32) -> TextPooling {
        if eos_token_id == 2 {
            TextPooling::ArgmaxId
        } else {
            TextPooling::FirstId(eos_token_id)
        }
    }

    fn position(self, row: &[u32]) -> usize {
        match self {
            TextPooling::ArgmaxId => {
                let mut best = 0;
                for (index, &id) in row.iter().enumerate() {
                    if id > row[best] {
                        best = index;
                    }
                }
                best
            }
            TextPooling::FirstId(eos) => row.iter().position(|&id| id == eos).unwrap_or(0),
        }
    }
}

struct ClipModel {
    token_embedding: Embedding,
    text_position_embedding: Tensor,
    text_encoder: Encoder,
    final_layer_norm: LayerNorm,
    text_projection: Linear,
    pooling: TextPooling,
    max_text_positions: usize,

    patch_embedding: candle_nn::Conv2d,
    class_embedding: Tensor,
    vision_position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    vision_encoder: Encoder,
    post_layernorm: LayerNorm,
    visual_projection: Linear,
    channels: usize,
    image_size: usize,

    logit_scale: Tensor,
    no_bias: Tensor,
}

impl ImageTextModel for ClipModel {
    fn text_embeddings(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let (rows, length) = batch.input_ids.dims2()?;
        if length > self.max_text_positions {
            candle_core::bail!(
                "{length} text tokens exceed max_position_embeddings {}",
                self.max_text_positions
            );
        }
        let device = batch.input_ids.device();
        let embedded = self
            .token_embedding
            .forward(&batch.input_ids)?
            .broadcast_add(&self.text_position_embedding.narrow(0, 0, length)?)?;
        let mask = attention_mask(&batch.lengths, length, true, device)?;
        let hidden = self
            .text_encoder
            .forward(&embedded, Some(&mask))?
            .apply(&self.final_layer_norm)?;
        let ids = batch.input_ids.to_device(&Device::Cpu)?.to_vec2::<u32>()?;
        let positions: Vec<u32> = ids
            .iter()
            .enumerate()
            .map(|(row, ids)| (row * length + self.pooling.position(ids)) as u32)
            .collect();
        let positions = Tensor::new(positions, device)?;
        let dim = hidden.dim(D::Minus1)?;
        let pooled = hidden
            .reshape((rows * length, dim))?
            .index_select(&positions, 0)?;
        l2_normalize(&pooled.apply(&self.text_projection)?)
    }

    fn image_embeddings(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        check_pixels(pixels, self.channels, self.image_size)?;
        let images = pixels.dim(0)?;
        let dtype = self.class_embedding.dtype();
        let patches = pixels
            .to_dtype(dtype)?
            .apply(&self.patch_embedding)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let hidden = self.class_embedding.dim(0)?;
        let class = self
            .class_embedding
            .reshape((1, 1, hidden))?
            .broadcast_as((images, 1, hidden))?;
        let embedded = Tensor::cat(&[&class, &patches], 1)?
            .broadcast_add(&self.vision_position_embedding)?
            .apply(&self.pre_layrnorm)?;
        let encoded = self.vision_encoder.forward(&embedded, None)?;
        // Contiguous: CUDA kernels refuse the strided class-token slice.
        let pooled = encoded
            .i((.., 0, ..))?
            .contiguous()?
            .apply(&self.post_layernorm)?;
        l2_normalize(&pooled.apply(&self.visual_projection)?)
    }

    fn logit_scale_and_bias(&self) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((self.logit_scale.clone(), self.no_bias.clone()))
    }

    fn max_text_positions(&self) -> usize {
        self.max_text_positions
    }
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn ImageTextModel>, LocalJudgeError> {
    let text: TextConfig = config_section(&source, "text_config")?;
    let vision: VisionConfig = config_section(&source, "vision_config")?;
    let projection_dim = match source.config.get("projection_dim") {
        None => default_projection_dim(),
        Some(_) => config_field::<usize>(&source, "projection_dim")?,
    };
    load_towers(
        &source,
        "CLIPModel",
        &text,
        &vision,
        (vision.image_size, vision.patch_size),
        |text_settings, vision_settings| {
            build(
                &source,
                &text,
                &vision,
                text_settings,
                vision_settings,
                projection_dim,
            )
        },
    )
}

fn build(
    source: &ModelSource<'_>,
    text: &TextConfig,
    vision: &VisionConfig,
    text_settings: &EncoderSettings,
    vision_settings: &EncoderSettings,
    projection_dim: usize,
) -> candle_core::Result<ClipModel> {
    let vb = &source.weights;
    let text_vb = vb.pp("text_model");
    let text_embeddings = text_vb.pp("embeddings");
    let vision_vb = vb.pp("vision_model");
    let vision_embeddings = vision_vb.pp("embeddings");
    let patches = (vision.image_size / vision.patch_size).pow(2);
    Ok(ClipModel {
        token_embedding: candle_nn::embedding(
            text.vocab_size,
            text.hidden_size,
            text_embeddings.pp("token_embedding"),
        )?,
        text_position_embedding: text_embeddings.get(
            (text.max_position_embeddings, text.hidden_size),
            "position_embedding.weight",
        )?,
        text_encoder: Encoder::new(text_vb.pp("encoder"), text_settings)?,
        final_layer_norm: LayerNorm::load(
            text.hidden_size,
            text.layer_norm_eps,
            text_vb.pp("final_layer_norm"),
            source.kernels,
        )?,
        text_projection: candle_nn::linear_no_bias(
            text.hidden_size,
            projection_dim,
            vb.pp("text_projection"),
        )?,
        pooling: TextPooling::for_eos(text.eos_token_id),
        max_text_positions: text.max_position_embeddings,

        patch_embedding: candle_nn::conv2d_no_bias(
            vision.num_channels,
            vision.hidden_size,
            vision.patch_size,
            Conv2dConfig {
                stride: vision.patch_size,
                ..Default::default()
            },
            vision_embeddings.pp("patch_embedding"),
        )?,
        class_embedding: vision_embeddings.get(vision.hidden_size, "class_embedding")?,
        vision_position_embedding: vision_embeddings
            .get(
                (patches + 1, vision.hidden_size),
                "position_embedding.weight",
            )?
            .unsqueeze(0)?,
        pre_layrnorm: LayerNorm::load(
            vision.hidden_size,
            vision.layer_norm_eps,
            vision_vb.pp("pre_layrnorm"),
            source.kernels,
        )?,
        vision_encoder: Encoder::new(vision_vb.pp("encoder"), vision_settings)?,
        post_layernorm: LayerNorm::load(
            vision.hidden_size,
            vision.layer_norm_eps,
            vision_vb.pp("post_layernorm"),
            source.kernels,
        )?,
        visual_projection: candle_nn::linear_no_bias(
            vision.hidden_size,
            projection_dim,
            vb.pp("visual_projection"),
        )?,
        channels: vision.num_channels,
        image_size: vision.image_size,

        // `CLIPConfig.logit_scale_init_value`'s default, ln(1 / 0.07).
        logit_scale: scalar_parameter(vb, "logit_scale", &[], 2.6592)?,
        // CLIP has no bias; a constant, never a weight.
        no_bias: Tensor::new(0f32, vb.device())?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn pooling_follows_transformers_eos_rules() {
        let row = [0, 17, 5, 1, 1, 1];
        assert_eq!(TextPooling::for_eos(2).position(&row), 1);
        assert_eq!(TextPooling::for_eos(1).position(&row), 3);
        assert_eq!(TextPooling::for_eos(9).position(&row), 0);
        // Ties in argmax go to the first position, like torch.
        assert_eq!(TextPooling::ArgmaxId.position(&[3, 7, 7]), 1);
    }

    #[test]
    fn activations_parse_from_their_config_names() {
        let parse = |name: &str| serde_json::from_value::<Activation>(Value::from(name));
        assert_eq!(parse("quick_gelu").ok(), Some(Activation::QuickGelu));
        assert_eq!(parse("gelu").ok(), Some(Activation::Gelu));
        assert_eq!(parse("gelu_new").ok(), Some(Activation::GeluTanh));
        assert!(parse("swish").is_err());
    }

    #[test]
    fn masks_hide_padding_and_the_future() -> candle_core::Result<()> {
        let mask = attention_mask(&[2], 3, true, &Device::Cpu)?
            .squeeze(1)?
            .to_vec3::<f32>()?;
        let mask = &mask[0];
        assert_eq!(mask[0][0], 0.0);
        assert_eq!(mask[0][1], f32::MIN);
        assert_eq!(mask[1][1], 0.0);
        assert_eq!(mask[2][2], f32::MIN);
        Ok(())
    }
}
