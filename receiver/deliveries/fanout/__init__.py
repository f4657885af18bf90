"""The fan-out: every downstream (the directory), its lane and connections, the rows handed
over by a poll, and the worker that delivers them."""
