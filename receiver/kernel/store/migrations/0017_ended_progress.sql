-- An ended task shows no partial progress: whole once it succeeded, none once it failed or
-- was cancelled (the relay now writes it so when a task ends; this settles those before).
UPDATE tasks SET progress = 1.0 WHERE state = 'succeeded';
UPDATE tasks SET progress = NULL WHERE state IN ('failed', 'cancelled');
