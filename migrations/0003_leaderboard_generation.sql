-- A generation counter for the leaderboard read model: every write that can change a leaderboard
-- row (a run created, moved to another status or deleted; a model's metadata; a scorecard; a
-- paper-reported score) bumps it in the same transaction, by trigger, so any process writing the
-- database (the server, `eval`, a worker, `import-reference`) invalidates the server's cached
-- leaderboard, and a reader that sees the new rows also sees the new generation. Never edit this
-- file once merged; add a new migration instead.
--
-- Portability: the triggers are SQLite's spelling; PostgreSQL would use one trigger function
-- (`UPDATE leaderboard_generation SET generation = generation + 1`) attached FOR EACH STATEMENT to
-- the same tables and events. Judgements are not watched: the leaderboard reads scorecards, which
-- are stored when a run finishes, so evaluating does not invalidate the cache item by item.
CREATE TABLE leaderboard_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL CHECK (generation >= 0)
);

INSERT INTO leaderboard_generation (id, generation) VALUES (1, 0);

CREATE TRIGGER leaderboard_runs_insert AFTER INSERT ON runs
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_runs_update AFTER UPDATE ON runs
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_runs_delete AFTER DELETE ON runs
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;

CREATE TRIGGER leaderboard_models_insert AFTER INSERT ON models
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_models_update AFTER UPDATE ON models
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_models_delete AFTER DELETE ON models
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;

CREATE TRIGGER leaderboard_scorecards_insert AFTER INSERT ON scorecards
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_scorecards_update AFTER UPDATE ON scorecards
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_scorecards_delete AFTER DELETE ON scorecards
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;

CREATE TRIGGER leaderboard_reported_scores_insert AFTER INSERT ON reported_scores
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_reported_scores_update AFTER UPDATE ON reported_scores
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
CREATE TRIGGER leaderboard_reported_scores_delete AFTER DELETE ON reported_scores
BEGIN UPDATE leaderboard_generation SET generation = generation + 1; END;
