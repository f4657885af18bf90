"""API keys and who a caller is: keys hashed and limited, apps' rows, console sessions,
the bearer check every route's guard calls (`guard.py`), and the keys' routes."""
