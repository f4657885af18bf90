"""What recording an event writes: the event and the task's new state, its deliveries
(`outbox.py`), the next poll, a copy started, and what the downstreams' health holds back."""
