"""A task's pure rules: the data URIs kept apart from its request and put back for its
send, the fair turns between apps in the queue, and a task as the API answers it."""
