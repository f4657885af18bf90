"""A callback kept as a claim (`callback.py`), a poll's answer recorded and the claims it
settles (`poll.py`), the polls leased within the budget (`poll_budget.py`)."""
