//! Bradley-Terry reward-model training with candle, over the model families of
//! `omnireward-local-judge`, written back as checkpoints that `eval checkpoint` loads.
//!
//! - [`data`]: preference pairs from LLaMA-Factory "sharegpt ranking" files (Omni-RewardData)
//!   and from benchmark samples; the seeded split;
//! - [`model`]: a local-judge model built over trainable variables (text reward models, CLIP
//!   and SigLIP), saved as a Hugging Face folder;
//! - [`inputs`]: what a model reads of a pair (tokens, or a text and two images) and the
//!   rewards of both answers;
//! - [`objective`]: the stable Bradley-Terry loss;
//! - [`optimizer`], [`schedule`]: AdamW with checkpointable moments, cosine with warm-up;
//! - [`trainer`]: the loop (accumulation, clipping, validation, checkpoints, exact resumption);
//! - [`checkpoint`], [`record`], [`curve`]: what a run writes.
//!
//! Everything is blocking and compute-heavy: callers run it on its own thread.

pub mod checkpoint;
pub mod curve;
pub mod data;
pub mod error;
pub mod inputs;
pub mod model;
pub mod objective;
pub mod optimizer;
pub mod record;
pub mod schedule;
pub mod trainer;

#[cfg(test)]
mod image_tests;
#[cfg(test)]
mod testing;

pub use error::TrainingError;
