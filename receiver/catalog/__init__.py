"""The event catalog: every event type with its JSON Schema and an example
(`GET /v1/event-types`), and the AsyncAPI document of the webhook and broker channels."""
