"""The outbox, beneath the lifecycle: a delivery's rules (`rules/`: its records, who gets one
and in what state, whose a downstream is, its retries, breaker and lanes' pace, the event
types a downstream may receive) and the deliveries table's rows (`rows/`), which the
lifecycle's transactions write with the event that makes them, in one transaction. The
fan-out that sends them, and the rest of a delivery, is receiver/deliveries/."""
