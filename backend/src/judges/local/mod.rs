//! Local checkpoints as judges of benchmark samples: what a model can see of each task
//! ([`coverage`]), turning samples into its inputs ([`inputs`]), and the dedicated thread the
//! model runs on ([`thread`]). The models themselves live in the `omnireward-local-judge` crate.

pub mod coverage;
pub mod inputs;
pub mod thread;

pub use omnireward_local_judge::judge::{JudgeDescription, LocalJudge, LocalJudgeOptions};
pub use omnireward_local_judge::{LocalJudgeError, device::DeviceChoice, input::TruncationSide};

pub use self::coverage::{Coverage, coverage};
pub use self::thread::{InferenceThread, LocalScoringError};
