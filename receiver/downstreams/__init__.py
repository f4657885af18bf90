"""Downstreams: where events go, from the config file and the API, followed in the store
(`directory.py`), made, changed and removed (`manage.py`), the brokers and the chat formats
they speak, and their routes."""
