-- The CloudEvents webhook handshake's verdict on a downstream (receiver/destinations/
-- handshake.py), shared by every replica and kept across restarts: what it was asked of (a
-- digest of the endpoint and the relay's origin; NULL: never asked), its refusal in words
-- (NULL: allowed), the requests a minute it allowed (NULL: any), when it was asked; refused,
-- when it is asked again and how many refusals in a row came before.
ALTER TABLE downstreams ADD COLUMN handshake_of TEXT;
ALTER TABLE downstreams ADD COLUMN handshake_refusal TEXT;
ALTER TABLE downstreams ADD COLUMN handshake_per_minute DOUBLE PRECISION;
ALTER TABLE downstreams ADD COLUMN handshake_asked_at DOUBLE PRECISION;
ALTER TABLE downstreams ADD COLUMN handshake_again_at DOUBLE PRECISION;
ALTER TABLE downstreams ADD COLUMN handshake_refusals INTEGER NOT NULL DEFAULT 0;
CREATE INDEX downstreams_handshake_again ON downstreams (handshake_again_at)
    WHERE handshake_again_at IS NOT NULL;
