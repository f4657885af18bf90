"""The downstreams made through the API, and their changes."""
