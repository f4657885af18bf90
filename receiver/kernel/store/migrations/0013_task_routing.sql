-- What a task asked for itself besides the downstreams, as JSON: its own webhook and the
-- states it takes, the caller's metadata (echoed in every event of the task) and its
-- channels. NULL: nothing asked. Never sent to CometAPI.
ALTER TABLE tasks ADD COLUMN routing TEXT;
