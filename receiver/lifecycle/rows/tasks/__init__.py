"""The tasks table, written here only, a module an idea: a task taken in and read back
(`intake.py`), its place in the submit queue and its sends (`submits.py`), and what is
learnt of it once sent: its polls, and its state as what is learnt moves it (`tracking.py`)."""
