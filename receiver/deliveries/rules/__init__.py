"""The rules of sending: when to retry, the circuit breaker, and each downstream's fair
share of the claims."""
