"""Who a caller is and what its scopes cover, a key's limits, and API keys' form and
keyed hashes."""
