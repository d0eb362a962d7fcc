-- Initial schema: benchmarks and their samples, models, runs, per-item judgements, scorecards and
-- the paper-reported scores. Never edit this file once merged; add a new migration instead.
--
-- Portability: only INTEGER, BIGINT, TEXT and REAL columns, no SQLite-only functions, timestamps are
-- Unix milliseconds written by the application. The one SQLite-specific spelling is the surrogate key
-- (`INTEGER PRIMARY KEY` is SQLite's auto-assigned rowid; PostgreSQL needs `BIGINT GENERATED ALWAYS
-- AS IDENTITY PRIMARY KEY` there). Enumerations are TEXT without CHECK lists so that adding a kind does
-- not force a table rebuild in SQLite; the application rejects unknown values when it reads them.

-- One loaded benchmark version, identified by the SHA-256 over its samples.
CREATE TABLE benchmarks (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    sample_count BIGINT NOT NULL CHECK (sample_count >= 0),
    created_at BIGINT NOT NULL
);

-- The rows of a benchmark. `label`, `criterion` and `prompt` are copies of fields of `sample_json`
-- (the serde JSON of `omnireward_shared::Sample`) kept as columns for filtering and browsing.
CREATE TABLE samples (
    benchmark_id INTEGER NOT NULL REFERENCES benchmarks (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    label TEXT NOT NULL,
    criterion TEXT NOT NULL,
    prompt TEXT NOT NULL,
    sample_json TEXT NOT NULL,
    PRIMARY KEY (benchmark_id, task, sample_id)
);

-- A judge, a reward model, a baseline, or a model known only from the paper's tables.
-- kind: api_judge | scalar_reward_model | local_generative | paper_reported | baseline.
-- model_group: the paper's grouping (open_generative, proprietary_generative, specialized) or NULL.
CREATE TABLE models (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    model_group TEXT,
    parameters TEXT,
    licence TEXT,
    open_weights INTEGER CHECK (open_weights IN (0, 1)),
    UNIQUE (name, kind)
);

-- One model evaluated on one benchmark under a recorded configuration.
-- status: queued | running | finished | failed | cancelled.
-- provenance: evaluated | paper_reported | reference_import. Paper-reported runs have no benchmark
-- here (the authors computed them on the full release) and keep their numbers in reported_scores only.
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    model_id INTEGER NOT NULL REFERENCES models (id),
    benchmark_id INTEGER REFERENCES benchmarks (id),
    status TEXT NOT NULL,
    provenance TEXT NOT NULL,
    configuration_json TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);

CREATE INDEX runs_by_model ON runs (model_id);
CREATE INDEX runs_by_benchmark ON runs (benchmark_id);

-- One judge output per (run, task, sample, setting, order): the primary key is the idempotency key
-- that keeps a judgement from being lost or duplicated (ARCHITECTURE.md invariant 6).
-- presentation_order: original | swapped ("order" is an SQL keyword). verdict NULL = unparseable.
CREATE TABLE judgements (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    setting TEXT NOT NULL,
    presentation_order TEXT NOT NULL,
    raw_output TEXT,
    reward_response1 REAL,
    reward_response2 REAL,
    verdict TEXT,
    label TEXT NOT NULL,
    attempts INTEGER,
    input_tokens BIGINT,
    output_tokens BIGINT,
    latency_ms BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, task, sample_id, setting, presentation_order),
    -- Rewards come in pairs; a half-written pair would silently read back as "no rewards".
    CHECK ((reward_response1 IS NULL) = (reward_response2 IS NULL))
);

-- The primary key already serves lookups by run; this one serves per-task views of a run.
CREATE INDEX judgements_by_run_and_setting ON judgements (run_id, setting, task);

-- The latest scorecard of an evaluated run (serde JSON of `omnireward_shared::Scorecard`).
CREATE TABLE scorecards (
    run_id INTEGER PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    scorecard_json TEXT NOT NULL,
    computed_at BIGINT NOT NULL
);

-- Accuracies copied from the paper's tables (never computed here), as fractions in [0, 1].
-- task holds a task key, or the word `overall` for the overall column: it is NOT NULL because
-- SQLite treats NULLs as distinct in a primary key or UNIQUE constraint, which would let the
-- overall row be duplicated on re-import.
CREATE TABLE reported_scores (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    setting TEXT NOT NULL,
    task TEXT NOT NULL,
    accuracy REAL NOT NULL CHECK (accuracy >= 0 AND accuracy <= 1),
    PRIMARY KEY (run_id, setting, task)
);
