//! The omnireward evaluator: benchmark loaders, storage, scoring commands, the HTTP API and the
//! CLI.
//!
//! `main.rs` is a thin shim over [`cli::run`]; everything else is reachable from tests.

pub use omnireward_local_judge::checkpoint;
pub mod cli;
pub mod data;
pub mod difficulty;
pub mod evaluation;
pub mod http;
pub mod hub;
pub mod judgements_file;
pub mod judges;
pub mod leaderboard;
pub mod media;
pub mod paper_models;
pub mod paper_results;
pub mod queue;
pub mod storage;
