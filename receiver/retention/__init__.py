"""Retention: how long ended tasks and their history are kept, the pruning story and its
worker."""
