"""Media copies: a finished render copied before CometAPI's links expire (the mirror
worker), where copies are kept (`storage/`: local disk or S3, and signed links), Runway's
uploads, and the routes that serve them."""
