-- PostgreSQL version of ../0001_initial.sql: the same tables, columns, keys and checks in
-- PostgreSQL's dialect. Never edit this file once merged; add a new migration instead (in both
-- folders, with the same version).
--
-- Dialect: surrogate keys are identity columns (SQLite's `INTEGER PRIMARY KEY` rowid); every
-- integer is BIGINT, because the application reads every integer as a 64-bit value and
-- PostgreSQL, unlike SQLite, does not widen a 32-bit INTEGER on read; real numbers are DOUBLE
-- PRECISION (PostgreSQL's REAL is 32-bit). The 0/1 flag `open_weights` stays an integer so the
-- same SQL works on both. Text columns that queries sort by use the "C" collation, so that rows
-- come back in SQLite's byte order whatever the database's locale.

CREATE TABLE benchmarks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    sample_count BIGINT NOT NULL CHECK (sample_count >= 0),
    created_at BIGINT NOT NULL
);

CREATE TABLE samples (
    benchmark_id BIGINT NOT NULL REFERENCES benchmarks (id) ON DELETE CASCADE,
    task TEXT COLLATE "C" NOT NULL,
    sample_id TEXT COLLATE "C" NOT NULL,
    label TEXT NOT NULL,
    criterion TEXT NOT NULL,
    prompt TEXT NOT NULL,
    sample_json TEXT NOT NULL,
    PRIMARY KEY (benchmark_id, task, sample_id)
);

CREATE TABLE models (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    model_group TEXT,
    parameters TEXT,
    licence TEXT,
    open_weights BIGINT CHECK (open_weights IN (0, 1)),
    UNIQUE (name, kind)
);

CREATE TABLE runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id BIGINT NOT NULL REFERENCES models (id),
    benchmark_id BIGINT REFERENCES benchmarks (id),
    status TEXT NOT NULL,
    provenance TEXT NOT NULL,
    configuration_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE INDEX runs_by_model ON runs (model_id);
CREATE INDEX runs_by_benchmark ON runs (benchmark_id);

CREATE TABLE judgements (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    setting TEXT NOT NULL,
    presentation_order TEXT NOT NULL,
    raw_output TEXT,
    reward_response1 DOUBLE PRECISION,
    reward_response2 DOUBLE PRECISION,
    verdict TEXT,
    label TEXT NOT NULL,
    attempts BIGINT,
    input_tokens BIGINT,
    output_tokens BIGINT,
    latency_ms BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, task, sample_id, setting, presentation_order),
    CHECK ((reward_response1 IS NULL) = (reward_response2 IS NULL))
);

CREATE INDEX judgements_by_run_and_setting ON judgements (run_id, setting, task);

CREATE TABLE scorecards (
    run_id BIGINT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    scorecard_json TEXT NOT NULL,
    computed_at BIGINT NOT NULL
);

CREATE TABLE reported_scores (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    setting TEXT NOT NULL,
    task TEXT NOT NULL,
    accuracy DOUBLE PRECISION NOT NULL CHECK (accuracy >= 0 AND accuracy <= 1),
    PRIMARY KEY (run_id, setting, task)
);
