"""`python -m receiver`: the `receiver` command."""

from receiver.cli.main import main

main()
