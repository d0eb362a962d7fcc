//! The durable job queue and its workers: claiming, heartbeats, cancellation, crash and signal
//! recovery, on SQLite and PostgreSQL. One test binary (modules below).

#[path = "../support/mod.rs"]
mod support;

mod job_queue;
mod postgres_workers;
mod queued_checkpoint;
mod stop_signals;
mod worker_kill;
