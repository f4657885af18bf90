"""The process assembled: the service built from the config, its workers started with the web
application, and the separate delivery process."""
