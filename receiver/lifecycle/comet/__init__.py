"""CometAPI: the HTTP client and the tolerant reading of what it sends."""
