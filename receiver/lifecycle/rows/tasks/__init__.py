"""The tasks table, written here only: a task taken in and read back (`intake.py`), its
sends (`submits.py`), and what is learnt of it once sent (`tracking.py`)."""
