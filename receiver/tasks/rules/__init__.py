"""A task's pure rules: the data URIs kept apart from its request and put back for its
send, and the fair turns between apps in the queue."""
