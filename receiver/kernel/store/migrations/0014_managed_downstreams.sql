-- Downstreams made through the API live beside the config file's health rows: `spec` holds
-- their settings as JSON (NULL: a config-file downstream), their signing secret is sealed
-- (receiver/adapters/sealing.py), and during a rotation's overlap the previous one is kept
-- until `previous_until`. `changed_at` tells every replica a row changed.
ALTER TABLE downstreams ADD COLUMN spec TEXT;
ALTER TABLE downstreams ADD COLUMN sealed_secret TEXT;
ALTER TABLE downstreams ADD COLUMN sealed_previous TEXT;
ALTER TABLE downstreams ADD COLUMN previous_until DOUBLE PRECISION;
ALTER TABLE downstreams ADD COLUMN created_at DOUBLE PRECISION;
ALTER TABLE downstreams ADD COLUMN changed_at DOUBLE PRECISION;
