//! `SiglipModel` as an [`ImageTextModel`]: the reward of an image for a text is
//! `logit_scale.exp() * cosine + logit_bias`, as in `transformers`' `logits_per_text`.
//!
//! The layout follows candle-transformers' `siglip` module and `transformers` 4.57.3's
//! `modeling_siglip.py`; the code is our own (on the encoder shared with [`super::clip`]) because
//! of what the candle model lacks or does differently:
//!
//! - SigLIP is used with `SiglipProcessor`'s `padding="max_length"` and no attention mask, and
//!   its text tower pools the *last* position, which is then a pad token: the text embedding
//!   depends on the padding. [`ImageTextModel::text_embeddings`] therefore re-pads every row to
//!   `max_position_embeddings` with `text_config.pad_token_id` (transformers' default 1, the id of
//!   `</s>` in SigLIP's tokenizer) and attends without a mask, so that the embedding matches what
//!   `transformers` computes for the processor's inputs, whatever padding the batch came with;
//! - `text_config.projection_size` (the text head's width) is honoured; it must equal the vision
//!   width, since both embeddings share one space;
//! - `vision_use_head: false` is refused (`SiglipModel` needs the attention-pooling head for image
//!   features);
//! - attention scores and softmax run in f32 whatever the model dtype, and `logit_scale` and
//!   `logit_bias` are read in f32;
//! - layer norms and softmaxes go through [`Kernels`] (see [`super::clip`]), and `logit_scale`
//!   and `logit_bias` are weights the builder hands out, so that the model can be trained.

use candle_core::{Device, IndexOp, Module, Tensor};
use candle_nn::{Conv2dConfig, Embedding, Linear, VarBuilder};
use serde::Deserialize;

use super::ImageTextModel;
use super::clip::{
    Activation, Encoder, EncoderSettings, Mlp, attend, check_pixels, load_towers, scalar_parameter,
    tower_config,
};
use super::kernels::{Kernels, LayerNorm};
use super::layers::{ModelSource, config_error, config_section, l2_normalize};
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;

fn default_text_vocab_size() -> usize {
    32000
}
fn default_hidden_size() -> usize {
    768
}
fn default_intermediate_size() -> usize {
    3072
}
fn default_layers() -> usize {
    12
}
fn default_heads() -> usize {
    12
}
fn default_text_positions() -> usize {
    64
}
fn default_activation() -> Activation {
    Activation::GeluTanh
}
fn default_layer_norm_eps() -> f64 {
    1e-6
}
fn default_pad_token_id() -> u32 {
    1
}
fn default_channels() -> usize {
    3
}
fn default_image_size() -> usize {
    224
}
fn default_patch_size() -> usize {
    16
}
fn default_true() -> bool {
    true
}

/// `text_config`, with `SiglipTextConfig`'s defaults.
#[derive(Debug, Deserialize)]
struct TextConfig {
    #[serde(default = "default_text_vocab_size")]
    vocab_size: usize,
    #[serde(default = "default_hidden_size")]
    hidden_size: usize,
    #[serde(default = "default_intermediate_size")]
    intermediate_size: usize,
    #[serde(default = "default_layers")]
    num_hidden_layers: usize,
    #[serde(default = "default_heads")]
    num_attention_heads: usize,
    #[serde(default = "default_text_positions")]
    max_position_embeddings: usize,
    #[serde(default = "default_activation")]
    hidden_act: Activation,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default = "default_pad_token_id")]
    pad_token_id: u32,
    #[serde(default)]
    projection_size: Option<usize>,
}

/// `vision_config`, with `SiglipVisionConfig`'s defaults.
#[derive(Debug, Deserialize)]
struct VisionConfig {
    #[serde(default = "default_hidden_size")]
    hidden_size: usize,
    #[serde(default = "default_intermediate_size")]
    intermediate_size: usize,
    #[serde(default = "default_layers")]
    num_hidden_layers: usize,
    #[serde(default = "default_heads")]
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
    #[serde(default = "default_true")]
    vision_use_head: bool,
}

tower_config!(TextConfig, VisionConfig);

/// `head`: a learned probe attends over the patches (`torch.nn.MultiheadAttention` weights), then
/// a residual MLP.
struct AttentionPoolingHead {
    probe: Tensor,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    heads: usize,
    kernels: Kernels,
    layernorm: LayerNorm,
    mlp: Mlp,
}

impl AttentionPoolingHead {
    fn new(vb: VarBuilder, settings: &EncoderSettings) -> candle_core::Result<Self> {
        let hidden = settings.hidden_size;
        let attention = vb.pp("attention");
        let weights = attention
            .get((3 * hidden, hidden), "in_proj_weight")?
            .chunk(3, 0)?;
        let biases = attention.get(3 * hidden, "in_proj_bias")?.chunk(3, 0)?;
        let projection = |index: usize| -> candle_core::Result<Linear> {
            Ok(Linear::new(
                weights[index].contiguous()?,
                Some(biases[index].contiguous()?),
            ))
        };
        Ok(AttentionPoolingHead {
            probe: vb.get((1, 1, hidden), "probe")?,
            q_proj: projection(0)?,
            k_proj: projection(1)?,
            v_proj: projection(2)?,
            out_proj: candle_nn::linear(hidden, hidden, attention.pp("out_proj"))?,
            heads: settings.num_attention_heads,
            kernels: settings.kernels,
            layernorm: LayerNorm::load(
                hidden,
                settings.layer_norm_eps,
                vb.pp("layernorm"),
                settings.kernels,
            )?,
            mlp: Mlp::new(vb.pp("mlp"), settings)?,
        })
    }
}

impl Module for AttentionPoolingHead {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, _, hidden) = xs.dims3()?;
        let probe = self.probe.broadcast_as((batch, 1, hidden))?.contiguous()?;
        let pooled = attend(
            &probe.apply(&self.q_proj)?,
            &xs.apply(&self.k_proj)?,
            &xs.apply(&self.v_proj)?,
            self.heads,
            None,
            self.kernels,
        )?
        .apply(&self.out_proj)?;
        let transformed = pooled.apply(&self.layernorm)?.apply(&self.mlp)?;
        // Contiguous: CUDA kernels refuse the strided first-row slice.
        (pooled + transformed)?.i((.., 0, ..))?.contiguous()
    }
}

struct SiglipModel {
    token_embedding: Embedding,
    text_position_embedding: Tensor,
    text_encoder: Encoder,
    final_layer_norm: LayerNorm,
    text_head: Linear,
    max_text_positions: usize,
    pad_token_id: u32,

    patch_embedding: candle_nn::Conv2d,
    vision_position_embedding: Tensor,
    vision_encoder: Encoder,
    post_layernorm: LayerNorm,
    vision_head: AttentionPoolingHead,
    channels: usize,
    image_size: usize,

    logit_scale: Tensor,
    logit_bias: Tensor,
}

impl SiglipModel {
    /// Each row's real tokens followed by `pad_token_id` up to `max_position_embeddings`.
    fn padded_to_max_length(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let ids = batch.input_ids.to_device(&Device::Cpu)?.to_vec2::<u32>()?;
        let width = self.max_text_positions;
        let mut padded = Vec::with_capacity(ids.len() * width);
        for (row, &length) in ids.iter().zip(&batch.lengths) {
            if length > width {
                candle_core::bail!("{length} text tokens exceed max_position_embeddings {width}");
            }
            padded.extend_from_slice(&row[..length]);
            padded.extend(std::iter::repeat_n(self.pad_token_id, width - length));
        }
        Tensor::from_vec(padded, (ids.len(), width), batch.input_ids.device())
    }
}

impl ImageTextModel for SiglipModel {
    fn text_embeddings(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor> {
        let ids = self.padded_to_max_length(batch)?;
        let embedded = self
            .token_embedding
            .forward(&ids)?
            .broadcast_add(&self.text_position_embedding)?;
        let hidden = self
            .text_encoder
            .forward(&embedded, None)?
            .apply(&self.final_layer_norm)?;
        let last = hidden
            .i((.., self.max_text_positions - 1, ..))?
            .contiguous()?;
        l2_normalize(&last.apply(&self.text_head)?)
    }

    fn image_embeddings(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        check_pixels(pixels, self.channels, self.image_size)?;
        let dtype = self.vision_position_embedding.dtype();
        let embedded = pixels
            .to_dtype(dtype)?
            .apply(&self.patch_embedding)?
            .flatten_from(2)?
            .transpose(1, 2)?
            .broadcast_add(&self.vision_position_embedding)?;
        let encoded = self
            .vision_encoder
            .forward(&embedded, None)?
            .apply(&self.post_layernorm)?;
        l2_normalize(&encoded.apply(&self.vision_head)?)
    }

    fn logit_scale_and_bias(&self) -> candle_core::Result<(Tensor, Tensor)> {
        Ok((self.logit_scale.clone(), self.logit_bias.clone()))
    }

    fn max_text_positions(&self) -> usize {
        self.max_text_positions
    }
}

/// Builds the model.
pub fn load(source: ModelSource<'_>) -> Result<Box<dyn ImageTextModel>, LocalJudgeError> {
    let text: TextConfig = config_section(&source, "text_config")?;
    let vision: VisionConfig = config_section(&source, "vision_config")?;
    let projection_size = text.projection_size.unwrap_or(text.hidden_size);
    if projection_size != vision.hidden_size {
        return Err(config_error(
            source.config_file,
            "text_config.projection_size",
            format!(
                "the text head's width {projection_size} differs from the vision width {}",
                vision.hidden_size
            ),
        ));
    }
    if !vision.vision_use_head {
        return Err(config_error(
            source.config_file,
            "vision_config.vision_use_head",
            "SiglipModel needs the vision attention-pooling head for image embeddings".to_owned(),
        ));
    }
    if text.max_position_embeddings == 0 {
        return Err(config_error(
            source.config_file,
            "text_config.max_position_embeddings",
            "must be at least 1".to_owned(),
        ));
    }
    load_towers(
        &source,
        "SiglipModel",
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
                projection_size,
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
    projection_size: usize,
) -> candle_core::Result<SiglipModel> {
    let vb = &source.weights;
    let text_vb = vb.pp("text_model");
    let text_embeddings = text_vb.pp("embeddings");
    let vision_vb = vb.pp("vision_model");
    let vision_embeddings = vision_vb.pp("embeddings");
    let patches = (vision.image_size / vision.patch_size).pow(2);
    Ok(SiglipModel {
        token_embedding: candle_nn::embedding(
            text.vocab_size,
            text.hidden_size,
            text_embeddings.pp("token_embedding"),
        )?,
        text_position_embedding: text_embeddings
            .get(
                (text.max_position_embeddings, text.hidden_size),
                "position_embedding.weight",
            )?
            .unsqueeze(0)?,
        text_encoder: Encoder::new(text_vb.pp("encoder"), text_settings)?,
        final_layer_norm: LayerNorm::load(
            text.hidden_size,
            text.layer_norm_eps,
            text_vb.pp("final_layer_norm"),
            source.kernels,
        )?,
        text_head: candle_nn::linear(text.hidden_size, projection_size, text_vb.pp("head"))?,
        max_text_positions: text.max_position_embeddings,
        pad_token_id: text.pad_token_id,

        patch_embedding: candle_nn::conv2d(
            vision.num_channels,
            vision.hidden_size,
            vision.patch_size,
            Conv2dConfig {
                stride: vision.patch_size,
                ..Default::default()
            },
            vision_embeddings.pp("patch_embedding"),
        )?,
        vision_position_embedding: vision_embeddings
            .get((patches, vision.hidden_size), "position_embedding.weight")?
            .unsqueeze(0)?,
        vision_encoder: Encoder::new(vision_vb.pp("encoder"), vision_settings)?,
        post_layernorm: LayerNorm::load(
            vision.hidden_size,
            vision.layer_norm_eps,
            vision_vb.pp("post_layernorm"),
            source.kernels,
        )?,
        vision_head: AttentionPoolingHead::new(vision_vb.pp("head"), vision_settings)?,
        channels: vision.num_channels,
        image_size: vision.image_size,

        // `SiglipModel._init_weights`' values: ln 10 and -10, stored with shape [1].
        logit_scale: scalar_parameter(vb, "logit_scale", &[1], std::f64::consts::LN_10)?,
        logit_bias: scalar_parameter(vb, "logit_bias", &[1], -10.0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_those_of_transformers() {
        let text: TextConfig =
            serde_json::from_value(serde_json::json!({})).expect("empty text config");
        assert_eq!(text.max_position_embeddings, 64);
        assert_eq!(text.pad_token_id, 1);
        assert_eq!(text.hidden_act, Activation::GeluTanh);
        let vision: VisionConfig =
            serde_json::from_value(serde_json::json!({"hidden_act": "gelu"})).expect("vision");
        assert_eq!(vision.patch_size, 16);
        assert_eq!(vision.hidden_act, Activation::Gelu);
        assert!(vision.vision_use_head);
    }
}
