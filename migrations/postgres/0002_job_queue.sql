-- PostgreSQL version of ../0002_job_queue.sql (the durable job queue); see 0001 for the dialect.
-- Never edit this file once merged; add a new migration instead.
CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id BIGINT NOT NULL REFERENCES runs (id),
    kind TEXT NOT NULL,
    specification_json TEXT NOT NULL,
    status TEXT NOT NULL,
    cancel_requested BIGINT NOT NULL DEFAULT 0,
    worker TEXT,
    heartbeat_at BIGINT,
    attempts BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);

CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_run ON jobs (run_id);
