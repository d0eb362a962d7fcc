//! The command line as a user runs it (the `omnireward` binary) and training end to end. One
//! test binary (modules below).

#[path = "../support/mod.rs"]
mod support;

mod cli;
mod hub_commands;
mod submit_predictions;
mod training;
