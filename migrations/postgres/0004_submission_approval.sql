-- PostgreSQL version of ../0004_submission_approval.sql (submissions awaiting an administrator).
-- Never edit this file once merged; add a new migration instead.
ALTER TABLE jobs ADD COLUMN approval TEXT NOT NULL DEFAULT 'not_required';
