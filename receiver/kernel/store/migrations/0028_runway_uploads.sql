-- Runway's ephemeral uploads taken (receiver/runway_api/uploads.py): one row for each upload
-- URL that took its file, so that a second file to the same URL is refused on any replica,
-- and the bytes each key uploaded, for its quota ([media] upload_bytes_per_hour). A row
-- older than the URL's life and the quota's window is of no use, and goes as new ones come.
-- `runway_uploaders` holds one row a key, written first in each upload's transaction: its
-- row lock makes two uploads of one key count their bytes one after the other.
CREATE TABLE runway_uploads (
    media_key TEXT PRIMARY KEY,
    uploader TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    uploaded_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX runway_uploads_uploader ON runway_uploads (uploader, uploaded_at);
CREATE INDEX runway_uploads_at ON runway_uploads (uploaded_at);
CREATE TABLE runway_uploaders (
    uploader TEXT PRIMARY KEY,
    last_upload_at DOUBLE PRECISION NOT NULL
);
