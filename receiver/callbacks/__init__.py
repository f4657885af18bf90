"""CometAPI's callbacks and the polls that confirm them: the bare callback route, the
poller, and their stories."""
