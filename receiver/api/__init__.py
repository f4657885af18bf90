"""The relay's own HTTP API assembled: every feature's router in the order its paths are
tried, and the OpenAPI document FastAPI generates from them (routers.py)."""
