"""Downstreams: where events go, from the config file and the API, followed in the store
(`directory.py`), made, changed and removed (`manage.py`), and their routes; what each
format takes and how it is sent is its destination's (receiver/destinations/)."""
