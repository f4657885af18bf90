"""How a task changes, one transaction each: taken in (`intake.py`), sent or refused
(`submit.py`), scheduled for its polls (`schedule.py`), cancelled (`cancel.py`), set aside
(`aside.py`)."""
