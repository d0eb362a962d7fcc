//! Judges end to end: API judges against scripted and real OpenAI-compatible servers (llama.cpp
//! included), redirects, local checkpoints and the default model. One test binary (modules
//! below).

#[path = "../support/mod.rs"]
mod support;

mod ablation;
mod api_judge;
mod default_model;
mod judge_redirects;
mod llama_cpp_server;
mod local_checkpoint;
mod local_generative;
mod local_omni;
mod local_vision_generative;
mod local_vision_language;
