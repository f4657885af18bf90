-- The id of the relay key every seal of a downstream made through the API was made under
-- ('': not known yet), so that a start finds the rows to seal again, or that no key here
-- opens, through an index, never reading every downstream. Rows made before are checked
-- once, at the first start after this.
ALTER TABLE downstreams ADD COLUMN sealed_with TEXT NOT NULL DEFAULT '';
CREATE INDEX downstreams_sealed_with ON downstreams (sealed_with) WHERE spec IS NOT NULL;
-- The disabled ones, read by every fan-out each tick: a few among many (asked as a range,
-- which a database that has not analysed the table yet still reads through it).
CREATE INDEX downstreams_disabled ON downstreams (disabled_at) WHERE disabled_at IS NOT NULL;
