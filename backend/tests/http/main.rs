//! The HTTP layer on the in-process router and on real servers: the REST API, its documents and
//! snapshots, headers and limits, submissions and uploads, and the web app's pages. One test
//! binary (modules below) so the crate links once for all of them.

#[path = "../support/mod.rs"]
mod support;

mod chat_models;
mod http_api;
mod http_headers;
mod http_limits;
mod http_operations;
mod http_snapshots;
mod hub_submissions;
mod predictions;
mod submissions;
mod uploads;
mod web_compare;
mod web_pages;
mod web_sample_lists;
