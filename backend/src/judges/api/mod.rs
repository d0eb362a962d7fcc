//! Generative judges behind an OpenAI-compatible chat API: prompt templates and rendering.

pub mod address_policy;
pub mod client;
pub mod prompts;
pub mod request;
