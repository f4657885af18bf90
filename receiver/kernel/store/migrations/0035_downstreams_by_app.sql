-- An app's downstreams are kept as `<app id>.<name>` (29 characters before the name): this
-- index finds one app's in name order without reading any other's, whatever the database's
-- collation (a range on the name would follow it, and most collations do not keep a prefix's
-- names together). Made from the name itself, so every release's rows are in it.
CREATE INDEX downstreams_by_app ON downstreams (substr(name, 1, 29), name);
