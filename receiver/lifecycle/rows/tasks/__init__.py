"""The tasks table, written here only, a module an idea: a task taken in and read back
(`intake.py`), its place in the submit queue and its sends (`submits.py`), its polls
(`polls.py`), and its state as what is learnt of it moves it (`states.py`)."""
