"""Development tools, not part of the service: a CometAPI simulator, a downstream sink and
the demo that runs them (the tests' own tools are in tests/). The service never imports
them."""
