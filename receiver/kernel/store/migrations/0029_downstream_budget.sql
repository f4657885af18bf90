-- A downstream's delivery budget (`max_per_second`), shared by every replica: the tokens
-- left and when they were last counted (receiver/lifecycle/rules/polling.py's bucket).
ALTER TABLE downstreams ADD COLUMN budget_tokens DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE downstreams ADD COLUMN budget_at DOUBLE PRECISION NOT NULL DEFAULT 0;
