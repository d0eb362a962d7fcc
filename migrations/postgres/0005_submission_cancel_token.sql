-- PostgreSQL version of ../0005_submission_cancel_token.sql (the SHA-256 of each submission's
-- cancel token). Never edit this file once merged; add a new migration instead.
ALTER TABLE jobs ADD COLUMN cancel_token_sha256 TEXT;
