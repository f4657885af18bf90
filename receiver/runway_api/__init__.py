"""Runway's front door under `/runwayml`: its API as Runway's SDKs call it (creates,
tasks, uploads, the routes passed through, usage), answered in Runway's shape."""
