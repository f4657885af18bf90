"""What a task is and what CometAPI tells of it (`task.py`: states, kinds; an observation,
a claim and its verdict), when it is polled (`polling.py`: timing, the poll budget), what
an event carries (`routing.py`: the event document, progress events), the submit queue
(`queue.py`: room under the cap, fair turns; a key's own limits are its,
receiver/keys/rules.py), the retries and backoffs of submits and copies (`retries.py`; a
delivery's, and its breaker, are receiver/deliveries/rules/), and the records the store
hands out with which workers a recorded change wakes (`records.py`); the API answers them
through the models of the features that serve them (receiver/tasks/rules/answers.py)."""
