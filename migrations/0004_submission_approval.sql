-- Submissions that wait for an administrator before a worker may claim them (`serve
-- --require-approval`). Never edit this file once merged; add a new migration instead.
--
-- approval: not_required (the default: every job written before this migration, and every job
-- of a server that does not ask for approval) | pending (queued, but not claimable) | approved |
-- rejected (the job is cancelled).
ALTER TABLE jobs ADD COLUMN approval TEXT NOT NULL DEFAULT 'not_required';
