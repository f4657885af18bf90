"""A key made, found, rehashed and revoked; an app made, changed and deleted; a console
session ended."""
