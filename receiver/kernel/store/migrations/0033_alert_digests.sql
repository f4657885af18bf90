-- Operator alerts (receiver/alerts) gathered per app: one message a kind per app per quiet
-- window names every downstream of the app told of in it. `app_id` is '' for the relay's
-- own downstreams. A digest row: when the last one went out and since when one waits; an
-- entry: a downstream it will name, and why.
CREATE TABLE alert_digests (
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    waiting_since DOUBLE PRECISION,
    sent_at DOUBLE PRECISION,
    PRIMARY KEY (app_id, kind)
);
CREATE TABLE alert_digest_entries (
    app_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    downstream TEXT NOT NULL,
    reason TEXT NOT NULL,
    failing_since DOUBLE PRECISION,
    added_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (app_id, kind, downstream)
);
