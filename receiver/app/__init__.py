"""The process assembled: the ASGI application with every route and the console, the
server and its limits, the service and its workers started and stopped, and the separate
`receiver deliver` process."""
