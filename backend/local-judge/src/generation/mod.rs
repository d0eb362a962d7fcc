//! Text generation with chat models, the engine of local generative judges.
//!
//! - [`cache`]: the key/value cache of a batch whose rows have different lengths (left padding,
//!   rows leaving and joining between steps);
//! - [`decoder`]: the causal decoder of Qwen2, Qwen3 and Llama with a language-model head, over
//!   dense or quantized weights;
//! - [`folder`] and [`gguf`] build it from a `*ForCausalLM` checkpoint folder or a GGUF file, with
//!   [`gguf_tokenizer`] turning a GGUF file's `tokenizer.ggml.*` metadata into a tokenizer;
//! - [`sampling`]: greedy decoding and seeded temperature / top-p sampling;
//! - [`engine`]: continuous batching of many prompts under a token budget, stopping at
//!   end-of-turn tokens, stop strings or `max_new_tokens`;
//! - [`chat_model`]: [`chat_model::ChatModel`], a loaded model with its tokenizer, chat template
//!   and end-of-turn tokens: the entry point;
//! - [`vision_language`]: Qwen2-VL and Qwen2.5-VL `*ForConditionalGeneration` checkpoints on the
//!   same engine (prompts with images and videos, prefilled from embeddings, M-RoPE positions);
//!   [`vision_language::VisionChatModel`] is its entry point;
//! - [`generative_model`]: [`generative_model::GenerativeModel`], either entry point as the
//!   checkpoint's files decide (what a generative judge loads).
//!
//! Like the rest of the crate, everything here blocks: callers run it on an inference thread.

pub mod cache;
pub mod chat_model;
pub mod decoder;
pub mod engine;
pub mod folder;
pub mod generative_model;
pub mod gguf;
pub mod gguf_tokenizer;
pub mod sampling;
pub mod vision_language;
pub mod vision_language_folder;

use candle_core::{Device, Tensor};

use cache::BatchCache;
use engine::GenerationRequest;

/// A causal language model the engine can drive.
pub trait CausalLanguageModel: Send {
    /// Runs `input_ids` `[rows, len]` (of which the first `padding[row]` tokens of each row are
    /// padding, allowed only while `cache` is empty) after what `cache` holds, appends their keys
    /// and values to it, and returns the f32 logits `[rows, vocab]` at each row's last position.
    fn forward(
        &self,
        input_ids: &Tensor,
        padding: &[usize],
        cache: &mut BatchCache,
    ) -> candle_core::Result<Tensor>;

    /// An empty cache for this model.
    fn new_cache(&self) -> BatchCache;

    /// The device the model runs on.
    fn device(&self) -> &Device;

    /// Rows of the output logits.
    fn vocab_size(&self) -> usize;

    /// The longest sequence (prompt and generated tokens) the model's positions allow.
    fn max_positions(&self) -> usize;

    /// Prefills the prompts of `requests` at `joining` as one group: a fresh cache holding them
    /// and each row's f32 logits `[rows, vocab]` at its last token. By default the prompts'
    /// token ids left-padded through [`CausalLanguageModel::forward`]; a model whose prompts
    /// carry more than token ids (images, videos) overrides it.
    fn prefill(
        &self,
        requests: &[GenerationRequest],
        joining: &[usize],
    ) -> candle_core::Result<(BatchCache, Tensor)> {
        let prompts: Vec<&[u32]> = joining
            .iter()
            .map(|&index| requests[index].prompt.as_slice())
            .collect();
        let (ids, padding) = left_padded(&prompts, self.device())?;
        let mut cache = self.new_cache();
        let logits = self.forward(&ids, &padding, &mut cache)?;
        Ok((cache, logits))
    }
}

/// `prompts` left-padded into one `[rows, longest]` tensor of ids, with each row's padding.
/// Any id works for padding (the mask hides it); each prompt's first token is a valid one.
pub fn left_padded(
    prompts: &[&[u32]],
    device: &Device,
) -> candle_core::Result<(Tensor, Vec<usize>)> {
    let width = prompts.iter().map(|prompt| prompt.len()).max().unwrap_or(0);
    let mut ids = Vec::with_capacity(prompts.len() * width);
    let mut padding = Vec::with_capacity(prompts.len());
    for prompt in prompts {
        let Some(&first) = prompt.first() else {
            candle_core::bail!("an empty prompt cannot be prefilled");
        };
        let pad = width - prompt.len();
        ids.extend(std::iter::repeat_n(first, pad));
        ids.extend_from_slice(prompt);
        padding.push(pad);
    }
    Ok((
        Tensor::from_vec(ids, (prompts.len(), width), device)?,
        padding,
    ))
}
