"""The relay's rules, free of I/O: task states, callback verdicts, the event document
downstreams receive, and the retry decision. Everything here is unit-tested without a
network, a database or a clock of its own."""
