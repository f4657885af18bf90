"""The lifecycle's tables, each written in one place only, a module or folder named for its
table (tests/unit/test_tables.py holds it so)."""
