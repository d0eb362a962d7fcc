//! Bradley-Terry reward-model training with candle, over the model families of
//! `omnireward-local-judge`, written back as checkpoints that `eval checkpoint` loads.
//!
//! - [`data`]: preference pairs from LLaMA-Factory "sharegpt ranking" files (Omni-RewardData)
//!   and from benchmark samples; the seeded split;
//! - [`model`]: a local-judge model built over trainable variables, saved as a Hugging Face
//!   folder;
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
pub mod model;
pub mod objective;
pub mod optimizer;
pub mod record;
pub mod schedule;
pub mod trainer;

#[cfg(test)]
mod testing;

pub use error::TrainingError;
