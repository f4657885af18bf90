"""What recording an event writes: the event, the task's new state and a copy started
(`observations.py`), its deliveries (`outbox.py`), the next poll (`polls.py`), and what the
downstreams' health holds back (`health.py`)."""
