"""The lifecycle's pure rules: what a task is and what CometAPI tells of it, when it is
polled, what an event carries, the submit queue, retries, and the records the store hands
out."""
