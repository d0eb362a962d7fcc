//! The submission queue as an application layer: turning a validated submission (an API judge,
//! an uploaded checkpoint) into its run and queued job, the workers that run the jobs, and the
//! keys they use (held in memory, or operator keys bound to their hosts); and submitted
//! predictions, checked and scored at once without a job. The HTTP handlers and the `worker`
//! command are adapters over it.

pub mod checkpoints;
pub mod enqueue;
pub mod hub_checkpoints;
pub mod key_bindings;
pub mod key_vault;
pub mod predictions;
pub mod submissions;
pub mod worker;
