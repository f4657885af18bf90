"""Development tools, not part of the service: a CometAPI simulator, a downstream sink, the
demo that runs them and the trace of a callback's path through a relay beside them (the
tests' own tools are in tests/). The service never imports them."""
