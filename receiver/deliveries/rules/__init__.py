"""The rules of sending: the circuit breaker, and each downstream's fair share of the
claims (when to retry is the lifecycle's: receiver/lifecycle/rules/retries.py)."""
