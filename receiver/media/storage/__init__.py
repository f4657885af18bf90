"""Media copies: streamed downloads, the local or S3 storage, and signed expiring links."""
