-- Each app's own keys for its tasks' own webhooks (`webhook` on a submit), so that one app's
-- key cannot make the relay sign a body another app's receiver takes as its own: a `whsec_`
-- secret (HMAC, `v1`) and a `whsk_` ed25519 key (`v1a`), sealed together and bound to the
-- app's id. A rotation keeps the pair it replaces, which signs too until `previous_until`.
CREATE TABLE app_webhook_keys (
    app_id TEXT PRIMARY KEY,
    sealed TEXT NOT NULL,
    sealed_previous TEXT,
    previous_until DOUBLE PRECISION,
    created_at DOUBLE PRECISION NOT NULL,
    rotated_at DOUBLE PRECISION
);
