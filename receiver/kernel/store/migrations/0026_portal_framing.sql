-- The origins whose pages may frame an app's portal (`frame-ancestors`), space-separated;
-- NULL: none, the portal is never framed.
ALTER TABLE apps ADD COLUMN portal_frame_ancestors TEXT;
