"""Operator alerts: a downstream failing, recovered or disabled, told once to the alert
downstream of the operator (`[alerts]`) and of the downstream's app."""
