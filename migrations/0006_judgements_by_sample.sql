-- The benchmark browser lists every judgement of one sample across all runs (a run over a few
-- tasks of the benchmark included): an index on (task, sample_id) spares that page a scan of the
-- whole judgements table. Never edit this file once merged; add a new migration instead.
CREATE INDEX judgements_by_sample ON judgements (task, sample_id);
