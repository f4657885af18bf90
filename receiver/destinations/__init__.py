"""Where events go: one provider a destination (provider.py says what each answers, and
registry.py lists them). A publisher imports its client library only when it opens, so
that a library is loaded only when configured; what they share stands in publishing.py,
connection.py, brokers.py, aws.py and aws_client.py, and http.py sends the HTTP ones."""
