"""The HTTP edge: bodies read with their limits, one JSON shape for every answer and
refusal, and the answers' shared models."""
