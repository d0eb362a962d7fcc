//! Omni-RewardBench (Jin et al., 2025) domain model and pure scoring functions.
//!
//! This crate is shared by the evaluator, the server and the WebAssembly front end, so it holds
//! only data types and deterministic computations: no I/O, no clocks, no threads. It must keep
//! building for `wasm32-unknown-unknown` (CI checks it). `wire` is the REST API's JSON documents;
//! the feature `openapi` (the server's build) derives their OpenAPI schemas.

pub mod comparison;
pub mod judgement;
pub mod metric_card;
pub mod paired;
pub mod preference;
pub mod random;
pub mod reliability;
pub mod sample;
pub mod scorecard;
pub mod task;
pub mod tie_cross_validation;
pub mod tie_rules;
pub mod ties_matter;
pub mod verdict;
pub mod wire;

pub use judgement::{Judgement, JudgementKey, Order, Rewards};
pub use preference::{Label, ParsePreferenceError, Preference, Setting, Verdict};
pub use sample::{MediaKind, MediaLocation, MediaRef, Response, Sample};
pub use scorecard::{
    AggregateScore, BenchmarkIdentity, BootstrapConfig, Outcome, Scorecard, SettingScorecard,
    TaskScore,
};
pub use task::{Modality, ParseTaskError, Task};
pub use verdict::parse_verdict;
