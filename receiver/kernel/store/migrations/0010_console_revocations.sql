-- Console sessions ended by logging out: every replica refuses their cookies. A row is
-- kept until its cookie would have expired anyway, then purged.
CREATE TABLE console_revocations (
    session_id TEXT PRIMARY KEY,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX console_revocations_expiry ON console_revocations (expires_at);
