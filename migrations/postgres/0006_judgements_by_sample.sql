-- PostgreSQL version of ../0006_judgements_by_sample.sql (judgements of one sample across runs).
-- Never edit this file once merged; add a new migration instead.
CREATE INDEX judgements_by_sample ON judgements (task, sample_id);
