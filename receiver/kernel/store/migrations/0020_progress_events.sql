-- The figure and time of a task's latest progress event, which the next one is throttled
-- against and must exceed.
ALTER TABLE tasks ADD COLUMN progress_sent DOUBLE PRECISION;
ALTER TABLE tasks ADD COLUMN progress_sent_at DOUBLE PRECISION;
