"""Media: copies of finished renders, made before the provider's links expire (24-48 h),
kept in a store of the relay's own and served at signed, expiring URLs."""
