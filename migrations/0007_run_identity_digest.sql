-- The digest of each run's identity (`configuration_json.identity`): SHA-256 of its canonical
-- JSON, so finding the run to resume or join is one indexed lookup instead of a read of every
-- run. SQLite has no SHA-256: the rows that exist when this migration runs are filled in by
-- `Storage::fill_identity_digests`, right after the migrations, on every open (a no-op once
-- every run has its digest). NULL for runs without an identity (paper-reported rows,
-- imports). Never edit this file once merged; add a new migration instead.
ALTER TABLE runs ADD COLUMN identity_sha256 TEXT;
CREATE INDEX runs_by_identity ON runs (identity_sha256, model_id, benchmark_id);
