"""The outbox's rows, beneath the lifecycle: the deliveries table, written here only, with
each attempt and the chat message it posted (`outbox.py`), and a pull downstream's page of
it (`pulls.py`)."""
