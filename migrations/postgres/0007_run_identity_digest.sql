-- PostgreSQL version of ../0007_run_identity_digest.sql (the indexed digest of each run's
-- identity, filled for existing rows by `Storage::fill_identity_digests`). Never edit this file
-- once merged; add a new migration instead.
ALTER TABLE runs ADD COLUMN identity_sha256 TEXT;
CREATE INDEX runs_by_identity ON runs (identity_sha256, model_id, benchmark_id);
