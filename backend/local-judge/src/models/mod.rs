//! One file per architecture, each following the layout of the matching candle-transformers
//! model, with the reward head `transformers` puts on it.
//!
//! Text families implement [`SequenceRewardModel`]: a padded batch in, one reward per row out.
//! Image-text families implement [`ImageTextModel`]. [`load_sequence_model`] and
//! [`load_image_text_model`] dispatch on the [`Architecture`] read from `config.json`. What the
//! families share without knowing one another lives in [`layers`] and [`kernels`], which import
//! no model file.

pub mod bert;
pub mod bert_encoder;
pub mod clip;
pub mod deberta_v2;
mod deberta_v2_encoder;
mod deberta_v2_positions;
pub mod decoder;
pub mod kernels;
pub mod layers;
pub mod llama;
pub mod minicpm_o;
pub mod minicpm_o_audio;
pub mod minicpm_o_vision;
pub mod minilm;
pub mod modernbert;
pub mod qwen2;
pub mod qwen2_vl;
pub mod qwen2_vl_positions;
pub mod qwen2_vl_vision;
pub mod qwen3;
pub(crate) mod reward_head;
pub mod siglip;
pub(crate) mod unpadding;
pub(crate) mod vectorised;
pub mod xlm_roberta;

use candle_core::{D, DType, Tensor};

use crate::architecture::Architecture;
use crate::batch::PaddedBatch;
use crate::error::LocalJudgeError;
// What the backend and training build models from, at the paths they have always used.
pub use layers::{ModelSource, RewardLabel, num_labels};

/// A text model with a scalar reward head.
pub trait SequenceRewardModel: Send {
    /// One reward per row of the batch, as an f32 tensor of shape `[rows]` (on any device).
    fn rewards(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor>;

    /// The most tokens one input may have (position embeddings), if the model has a limit.
    fn max_positions(&self) -> Option<usize>;
}

/// A sentence-embedding model (all-MiniLM-L6-v2 and other `BertModel` checkpoints).
pub trait TextEmbeddingModel: Send {
    /// L2-normalised embeddings `[rows, dim]` of a padded batch (masked mean pooling).
    fn embeddings(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor>;

    /// The most tokens one input may have.
    fn max_positions(&self) -> Option<usize>;
}

/// A model that embeds texts and images into one space (CLIP, SigLIP).
pub trait ImageTextModel: Send {
    /// L2-normalised text embeddings `[rows, dim]` of a padded batch.
    fn text_embeddings(&self, batch: &PaddedBatch) -> candle_core::Result<Tensor>;

    /// L2-normalised image embeddings `[images, dim]` of preprocessed pixels
    /// `[images, 3, size, size]`.
    fn image_embeddings(&self, pixels: &Tensor) -> candle_core::Result<Tensor>;

    /// `logit_scale` (cosine similarities are multiplied by its exponential) and the bias SigLIP
    /// adds (0 for CLIP), as f32 tensors of shape `[]`: the reward is
    /// `logit_scale.exp() * cosine + bias` ([`image_text_rewards`]).
    fn logit_scale_and_bias(&self) -> candle_core::Result<(Tensor, Tensor)>;

    /// The most text tokens one input may have.
    fn max_text_positions(&self) -> usize;
}

/// Rewards `logit_scale.exp() * cosine + bias` of row `i` of `texts` with row `i` of `images`
/// (both L2-normalised, `[rows, dim]`), as f32 `[rows]`: `transformers`' `logits_per_text`
/// entries, computed the same way when scoring and when training.
pub fn image_text_rewards(
    model: &dyn ImageTextModel,
    texts: &Tensor,
    images: &Tensor,
) -> candle_core::Result<Tensor> {
    let (logit_scale, bias) = model.logit_scale_and_bias()?;
    let cosine = (texts.to_dtype(DType::F32)? * images.to_dtype(DType::F32)?)?.sum(D::Minus1)?;
    cosine
        .broadcast_mul(&logit_scale.exp()?)?
        .broadcast_add(&bias)
}

/// Builds a text reward model of the given family.
pub fn load_sequence_model(
    architecture: Architecture,
    source: ModelSource<'_>,
) -> Result<Box<dyn SequenceRewardModel>, LocalJudgeError> {
    match architecture {
        Architecture::Bert => bert::load(source),
        Architecture::DebertaV2 => deberta_v2::load(source),
        Architecture::ModernBert => modernbert::load(source),
        Architecture::XlmRoberta => xlm_roberta::load(source),
        Architecture::Qwen2 => qwen2::load(source),
        Architecture::Qwen3 => qwen3::load(source),
        Architecture::Llama => llama::load(source),
        Architecture::Clip
        | Architecture::Siglip
        | Architecture::BertEmbedding
        | Architecture::Qwen2Vl
        | Architecture::Qwen25Vl
        | Architecture::Qwen2VlSequenceClassification
        | Architecture::MiniCpmO => Err(LocalJudgeError::Input {
            message: format!(
                "{} is not a sequence reward model",
                architecture.hugging_face_name()
            ),
        }),
    }
}

/// Name prefixes of a family's reward head, what head-only training updates: the weights
/// `transformers` adds on top of the backbone for `*ForSequenceClassification`; for image-text
/// models the projections into the shared space (SigLIP's vision projection is its
/// attention-pooling head) and `logit_scale`, the temperature of the reward.
pub fn head_prefixes(architecture: Architecture) -> &'static [&'static str] {
    match architecture {
        Architecture::Bert => &["bert.pooler.", "classifier."],
        Architecture::DebertaV2 => &["pooler.", "classifier."],
        Architecture::ModernBert => &["head.", "classifier."],
        Architecture::XlmRoberta => &["classifier."],
        Architecture::Qwen2 | Architecture::Qwen3 | Architecture::Llama => &["score."],
        Architecture::Clip => &["text_projection.", "visual_projection.", "logit_scale"],
        Architecture::Siglip => &["text_model.head.", "vision_model.head.", "logit_scale"],
        Architecture::BertEmbedding => &[],
        Architecture::Qwen2Vl | Architecture::Qwen25Vl | Architecture::MiniCpmO => &["v_head."],
        Architecture::Qwen2VlSequenceClassification => &["score."],
    }
}

/// Weights training never updates, even under `--train all`: SigLIP's `logit_bias` shifts both
/// rewards of a pair alike, so the Bradley-Terry loss does not depend on it (its gradient is
/// rounding noise, which Adam would turn into steps of either sign).
pub fn untrained_weights(architecture: Architecture) -> &'static [&'static str] {
    match architecture {
        Architecture::Siglip => &["logit_bias"],
        _ => &[],
    }
}

/// Whether head-only training needs [`kernels::Kernels::Differentiable`] too: SigLIP's vision projection
/// is an attention-pooling block with its own layer norm and softmax.
pub fn head_needs_differentiable_kernels(architecture: Architecture) -> bool {
    architecture == Architecture::Siglip
}

/// Builds an image-text model of the given family.
pub fn load_image_text_model(
    architecture: Architecture,
    source: ModelSource<'_>,
) -> Result<Box<dyn ImageTextModel>, LocalJudgeError> {
    match architecture {
        Architecture::Clip => clip::load(source),
        Architecture::Siglip => siglip::load(source),
        other => Err(LocalJudgeError::Input {
            message: format!("{} is not an image-text model", other.hugging_face_name()),
        }),
    }
}
