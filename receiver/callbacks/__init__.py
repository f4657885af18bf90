"""CometAPI's callbacks and the polls that confirm them: the bare callback route, the
poller, and their stories (`stories.py`: a callback kept, polls leased, a poll's answer)."""
