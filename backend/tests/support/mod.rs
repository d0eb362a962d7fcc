//! Test support shared by the integration tests of this crate.

pub mod openai_server;
