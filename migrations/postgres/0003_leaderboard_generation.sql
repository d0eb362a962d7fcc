-- PostgreSQL version of ../0003_leaderboard_generation.sql: the leaderboard generation counter,
-- bumped by trigger in the writing transaction on every write that can change a leaderboard row.
-- Never edit this file once merged; add a new migration instead.
--
-- The triggers fire FOR EACH ROW, as SQLite's do, so the counter moves exactly as it does there
-- (a statement that changes no row does not bump it).
CREATE TABLE leaderboard_generation (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL CHECK (generation >= 0)
);

INSERT INTO leaderboard_generation (id, generation) VALUES (1, 0);

CREATE FUNCTION bump_leaderboard_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE leaderboard_generation SET generation = generation + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER leaderboard_runs AFTER INSERT OR UPDATE OR DELETE ON runs
FOR EACH ROW EXECUTE FUNCTION bump_leaderboard_generation();
CREATE TRIGGER leaderboard_models AFTER INSERT OR UPDATE OR DELETE ON models
FOR EACH ROW EXECUTE FUNCTION bump_leaderboard_generation();
CREATE TRIGGER leaderboard_scorecards AFTER INSERT OR UPDATE OR DELETE ON scorecards
FOR EACH ROW EXECUTE FUNCTION bump_leaderboard_generation();
CREATE TRIGGER leaderboard_reported_scores AFTER INSERT OR UPDATE OR DELETE ON reported_scores
FOR EACH ROW EXECUTE FUNCTION bump_leaderboard_generation();
