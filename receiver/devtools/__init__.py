"""Development tools, not part of the service: a CometAPI simulator, a downstream sink, the
demo, and helpers shared by the tests and the benchmarks. The service never imports them."""
