-- The durable job queue: evaluation work that a worker process claims, runs and finishes. Never edit
-- this file once merged; add a new migration instead. Same portability rules as 0001.
--
-- kind: api_judge. specification_json: everything needed to rebuild the judge except secrets.
-- status: queued | running | finished | failed | cancelled. worker and heartbeat_at are set while a
-- worker holds the job; a running job whose heartbeat is too old goes back to queued (the worker
-- died). cancel_requested (0 or 1) asks the worker holding a running job to stop.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id),
    kind TEXT NOT NULL,
    specification_json TEXT NOT NULL,
    status TEXT NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    worker TEXT,
    heartbeat_at BIGINT,
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    error TEXT,
    created_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);

CREATE INDEX jobs_by_status ON jobs (status, id);
CREATE INDEX jobs_by_run ON jobs (run_id);
