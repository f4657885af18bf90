-- The start of each delivery attempt's answer body (scrubbed of secrets, bounded), for
-- the API's attempts and the portal's delivery log. NULL: no answer, or none kept.
ALTER TABLE delivery_attempts ADD COLUMN excerpt TEXT;
