"""The lifecycle's transactions, one transaction each; none calls up into a feature."""
