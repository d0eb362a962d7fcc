//! What a conversation reward model scores, whichever family it is: [`Conversation`] (system,
//! user media then text, assistant), its [`ConversationMedia`], the [`ConversationLimits`] of a
//! run, and [`in_batches`], the batch loop both scorers share ([`crate::conversation`] for
//! Qwen2-VL, [`crate::omni_conversation`] for MiniCPM-o).

use candle_core::Tensor;
use image::DynamicImage;

use crate::batch::plan_batches;
use crate::error::LocalJudgeError;
use crate::input::TruncationSide;

/// One media item of a user turn, rendered as the template's image or video part.
#[derive(Clone, Debug)]
pub enum ConversationMedia {
    /// A still image (a photo, a generated image, a multi-view 3D render).
    Image(DynamicImage),
    /// A video: its frames, decoded and sampled by the caller (all of one size), and the rate
    /// they were sampled at (which sets the frames' time positions).
    Video {
        /// The sampled frames, in order.
        frames: Vec<DynamicImage>,
        /// Frames per second of the sampling.
        frames_per_second: f64,
    },
    /// A clip: 16 kHz mono samples in [-1, 1] (MiniCPM-o reads audio; Qwen2-VL refuses it).
    Audio(Vec<f32>),
}

/// A conversation to score: `[system: system, user: media… then text, assistant: response]`.
#[derive(Clone, Debug)]
pub struct Conversation {
    /// The system turn (the sample's criterion).
    pub system: String,
    /// The user turn's media, before its text, in order.
    pub media: Vec<ConversationMedia>,
    /// The user turn's text.
    pub text: String,
    /// The assistant turn (a text response, or empty when the responses are media).
    pub response: String,
}

/// How conversations are cut and batched.
#[derive(Clone, Copy, Debug)]
pub struct ConversationLimits {
    /// Most tokens one conversation may have.
    pub max_length: usize,
    /// Which end of a too-long conversation is cut.
    pub truncation: TruncationSide,
    /// Padded tokens per batch.
    pub batch_tokens: usize,
}

/// Rewards in input order from `score` run over `plan_batches(lengths, groups, batch_tokens)`
/// (each call gets a batch's indices and returns its rewards `[batch]`); `progress` gets each
/// batch's size.
pub(crate) fn in_batches(
    lengths: &[usize],
    groups: &[Vec<usize>],
    batch_tokens: usize,
    progress: &mut dyn FnMut(usize),
    mut score: impl FnMut(&[usize]) -> Result<Tensor, LocalJudgeError>,
) -> Result<Vec<f32>, LocalJudgeError> {
    let mut rewards = vec![f32::NAN; lengths.len()];
    for batch in plan_batches(lengths, groups, batch_tokens) {
        let values = score(&batch)?
            .to_vec1::<f32>()
            .map_err(LocalJudgeError::model("reading the rewards"))?;
        for (&index, value) in batch.iter().zip(values) {
            rewards[index] = value;
        }
        progress(batch.len());
    }
    Ok(rewards)
}
