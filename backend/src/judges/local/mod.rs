//! Local checkpoints as judges of benchmark samples: what a model can see of each task
//! ([`coverage`]), turning samples into its inputs ([`inputs`]), the dedicated thread the model
//! runs on ([`thread`]), and chat models as generative judges ([`generative`]; what a
//! vision-language one reads of a judge prompt: [`vision_prompt`]). The models
//! themselves live in the `omnireward-local-judge` crate.

pub mod coverage;
pub mod generative;
pub mod inputs;
#[cfg(test)]
mod test_samples;
pub mod thread;
pub mod vision_prompt;

pub use omnireward_local_judge::judge::{JudgeDescription, LocalJudge, LocalJudgeOptions};
pub use omnireward_local_judge::{LocalJudgeError, device::DeviceChoice, input::TruncationSide};

pub use self::coverage::{Coverage, coverage};
pub use self::generative::GenerativeThread;
pub use self::thread::{InferenceThread, LocalScoringError, ModelThread};
