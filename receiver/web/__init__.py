"""The HTTP edge: the ASGI application, the callback route, the admin API, the console, and
the server with its limits. Errors become answers here, in one place (`app.py`)."""
