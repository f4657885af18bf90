-- The one poll budget every replica draws from (receiver/domain/poll_budget.py): the tokens
-- left and when they were last counted; a time in the future holds every poll until then
-- (CometAPI's 429). One row, there from the start.
CREATE TABLE poll_budget (
    id INTEGER PRIMARY KEY,
    tokens DOUBLE PRECISION NOT NULL,
    refilled_at DOUBLE PRECISION NOT NULL
);
INSERT INTO poll_budget (id, tokens, refilled_at) VALUES (1, 0, 0);
