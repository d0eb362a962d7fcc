//! The Omni-RewardBench web front end (Leptos). Rendered on the server with the `ssr` feature
//! and hydrated in the browser with `hydrate` (wasm32). Pages arrive with the web issue; this
//! crate already owns the presentation rules every page shares.

pub mod components;
pub mod format;
