"""What the operator reads across features: the console's overview and backlogs, the
store's gauges, the probes, the hourly activity, and a SQLite store's backup."""
