"""Retention: how long ended tasks and their history are kept, the pruning transaction and its
worker."""
