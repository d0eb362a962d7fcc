//! One module per page.

pub mod benchmark;
pub mod compare;
pub mod demo;
pub mod leaderboard;
pub mod methods;
pub mod model;
pub mod problem;
pub mod queue;
pub mod submit;
