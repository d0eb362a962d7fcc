//! Judges: anything that turns a benchmark sample into a verdict or rewards.

pub mod ablation;
pub mod api;
pub mod local;
