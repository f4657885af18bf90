"""CometAPI's callbacks: the bare callback route and how it is described in the OpenAPI
document; the claim it keeps is the lifecycle's (receiver/lifecycle/transactions/polls.py)."""
