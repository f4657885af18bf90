-- The app a downstream made through the API belongs to ('' for a global one, every task's,
-- and for the config file's rows), so that an event of one app's task reads that app's
-- downstreams and the global ones through an index, never every app's. The rows made before
-- are an app's when their name is kept as `<app id>.<name>` (receiver/deliveries/rules/
-- delivery.py's owner_of: `app_` or `key_`, 24 hexadecimal digits, a dot, a name).
ALTER TABLE downstreams ADD COLUMN app_id TEXT NOT NULL DEFAULT '';
UPDATE downstreams SET app_id = substr(name, 1, 28)
    WHERE spec IS NOT NULL AND length(name) > 29 AND substr(name, 29, 1) = '.'
    AND substr(name, 1, 4) IN ('app_', 'key_')
    AND ltrim(substr(name, 5, 24), '0123456789abcdef') = '';
CREATE INDEX downstreams_of_app ON downstreams (app_id, name) WHERE spec IS NOT NULL;
