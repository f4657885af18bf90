-- A key's turn in the submit queue outlives the claim that began it: how many more tasks
-- the key served last may send before the next key's turn (receiver/domain/turns.py). A
-- claim with room for one task took one and passed the turn on, so weights did nothing.
ALTER TABLE submit_gate ADD COLUMN turn_left INTEGER NOT NULL DEFAULT 0;
