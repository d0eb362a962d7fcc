//! Local reward-model checkpoints: Hugging Face folders checked for safety ([`checkpoint`]),
//! loaded with candle on the CPU or a CUDA device, and run as scalar reward models.
//!
//! The crate knows checkpoints, tokenizers and tensors; it does not know benchmarks or runs. The
//! backend turns samples into [`input::ScoringText`] and media into images, and this crate turns
//! those into rewards:
//!
//! - [`architecture`] reads `config.json` and picks the model family;
//! - [`device`] parses `cpu|cuda[:N]|auto` and picks the dtype per device;
//! - [`input`] formats criterion, prompt and response (separator join for encoders, the
//!   checkpoint's own chat template for decoders) and tokenizes with explicit truncation;
//! - [`batch`] groups token sequences by length under a token budget and pads them;
//! - [`models`] holds one file per architecture, each a [`models::SequenceRewardModel`] or an
//!   image-text scorer;
//! - [`conversation`] scores conversations (criterion, media and text, response) with
//!   vision-language reward models;
//! - [`judge`] ties these together: [`judge::LocalJudge::load`] and `score_*`.
//!
//! Everything here is blocking and CPU/GPU heavy: callers run it on a dedicated thread, never on
//! an async runtime's workers.

pub mod architecture;
pub mod batch;
pub mod chat_template;
pub mod checkpoint;
pub mod conversation;
pub mod conversation_input;
pub mod device;
pub mod error;
pub mod generation;
pub mod image_input;
pub mod input;
pub mod judge;
pub mod minicpm_v_processor;
pub mod models;
pub mod omni_conversation;
pub mod pil_resample;
pub mod qwen2_vl_processor;
pub mod weights;
pub mod whisper_features;

pub use error::LocalJudgeError;
