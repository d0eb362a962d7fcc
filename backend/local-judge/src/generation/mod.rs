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
//!   and end-of-turn tokens: the entry point.
//!
//! Like the rest of the crate, everything here blocks: callers run it on an inference thread.

pub mod cache;
pub mod chat_model;
pub mod decoder;
pub mod engine;
pub mod folder;
pub mod gguf;
pub mod gguf_tokenizer;
pub mod sampling;

use candle_core::{Device, Tensor};

use cache::BatchCache;

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
}
