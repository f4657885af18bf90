-- Each change to a downstream made through the API (made, changed, rotated, removed) takes
-- the next number of one counter, whose row the change locks until it commits: numbers
-- become visible in order, so a replica reads only the rows past the last number it saw,
-- and a tick with nothing new reads one row. Removals are kept with their number.
ALTER TABLE downstreams ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX downstreams_changes ON downstreams (change_seq) WHERE spec IS NOT NULL;
CREATE TABLE downstream_changes (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL
);
INSERT INTO downstream_changes (id, seq) VALUES (1, 0);
CREATE TABLE downstream_removals (
    change_seq INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
