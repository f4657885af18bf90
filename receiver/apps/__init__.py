"""Apps through the API (made, changed, deleted, their keys) and an app's portal: its
links, used once, and the framing it allows."""
