"""The kernel beneath every feature: the one exception tree, configuration,
observability, the store (`run`, `read`, migrations, leases), the HTTP edge, the CometAPI
client, outbound safety, secrets, and the shared recording of an event (`events/`)."""
