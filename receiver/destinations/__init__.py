"""Where events go: one provider a destination (provider.py says what each answers, and
registry.py lists them, one line each).

`webhook` and the chat formats are HTTP requests the fan-out sends: a signed JSON event, or
a platform's message rendered from the stored event document only (and, for Telegram, the
chat its URL names), so that every retry sends the same body; text from upstream or from
users is escaped for each platform and every message kept within its documented limits
(chat_text.py, chat_message.py). The brokers (amqp, nats, mqtt, redis) and the AWS
services (sqs, sns, eventbridge, s3) are publishers that confirm each message; each is one
module whose publisher imports its client library only when it opens, so that a library is
loaded only when configured. What they share stands in one module each: publishing.py (the
message, the target, the interface), connection.py (one connection, reconnected with
backoff), brokers.py, and aws.py with aws_client.py (the AWS settings and addresses, and the
client); http.py sends the HTTP ones, proving the relay with receiver/kernel/net/credentials.py
(a TLS client certificate, Basic, bearer, OAuth2 client credentials), and every message is
signed by receiver/kernel/secrets/signing.py (Standard Webhooks)."""
