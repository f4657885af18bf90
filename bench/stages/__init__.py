"""One module per benchmark stage, named for its --only key; see bench/harness.py."""
