//! Test support shared by the integration tests of this crate.

#![allow(dead_code)]

pub mod chat_models;
pub mod evaluated_runs;
pub mod fake_hub;
pub mod home_runs;
pub mod identities;
pub mod images;
pub mod openai_server;
pub mod paper_site;
pub mod stub_servers;
pub mod test_app;
