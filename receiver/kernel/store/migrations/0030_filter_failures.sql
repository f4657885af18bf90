-- A downstream's filter that failed at run time (a field the event lacks, a wrong type, too
-- costly on that event): how often, the last reason and when, shown on the downstream.
ALTER TABLE downstreams ADD COLUMN filter_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE downstreams ADD COLUMN filter_failure TEXT;
ALTER TABLE downstreams ADD COLUMN filter_failed_at DOUBLE PRECISION;
