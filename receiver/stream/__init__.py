"""The live stream: the change feed's one reader per process, the pools and holders of
the open streams (ended when a key is revoked), and `/v1/stream`."""
