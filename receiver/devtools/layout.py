"""The layout of receiver/, declared once: the floor each folder stands on and what it may
use. tests/unit/test_layers.py holds every import of the package to it, and
`receiver dev reference` writes it out (docs/reference/folders.md), so the map a reader
opens is the one the imports keep."""

from __future__ import annotations

# Beneath every feature, lowest first; each uses only the units before it. The kernel is
# infrastructure (the store, the HTTP edge, observability, outbound safety, secrets) and
# uses nothing of the receiver outside itself; CEL's filters and transforms (what is checked
# of their text, the worker processes that evaluate them under a budget) stand on it; the
# outbox (a delivery's rules and rows: its records, who gets one, its retries, breaker and
# lanes' pace, whose a downstream is, the event types; the deliveries table) on those; the
# lifecycle of a task (its kinds and states, reports and claims, polls, the retries of
# submits and polls, its events and the deliveries they make, written through the outbox's
# rows in the event's transaction) on those; the destinations (one provider a format: the
# settings it owns, how a downstream of it is sent) on that; the configuration (which
# speaks of the lifecycle's states, builds its policies and asks each destination for its
# settings) on those; the wiring (the process's parts, made once at start-up) on them all.
KERNEL = "kernel"
BENEATH = [KERNEL, "expressions", "outbox", "lifecycle", "destinations", "config", "wiring"]
# One folder a feature, each over the units beneath. A feature may use those and the
# features it declares here, nothing else: a new arrow between features is a decision made
# here, in review, and the declarations must stay free of cycles.
FEATURES: dict[str, set[str]] = {
    "keys": set(),  # API keys, who a bearer is, console sessions, apps' rows
    "downstreams": {"keys"},  # where events go: the file's and the API's, checked and opened
    "retention": set(),  # what is kept how long, and pruned
    # intake, the submit queue, sends and polls (CometAPI asked for each task's state), cancels
    "tasks": {"keys", "downstreams", "retention"},
    "callbacks": {"downstreams"},  # CometAPI's callback route
    "alerts": {"downstreams"},  # operator alerts: a downstream failing, recovered, disabled
    "deliveries": {
        "keys",
        "downstreams",
        "tasks",
        "alerts",
    },  # the fan-out: attempts, retries, replays
    "media": {"keys", "tasks", "deliveries"},  # outputs copied before their links expire
    "stream": {"keys", "tasks"},  # the live change feed and its streams
    "shares": {"keys", "tasks", "stream"},  # share links and the page behind them
    "apps": {"keys", "downstreams", "stream", "alerts"},  # apps and their keys, through the API
    "catalog": {"keys", "downstreams", "deliveries"},  # the event types, their schemas, AsyncAPI
    "operator": {"keys", "downstreams", "retention", "tasks", "deliveries", "media"},
    "runway_api": {"keys", "downstreams", "tasks", "media", "operator"},  # Runway's API
}
# Above every feature: the operator's console and an app's portal use any of them; `api`
# puts every feature's router in order with the OpenAPI document, which the agents' door
# reads; `app` assembles the process; the development tools and the command line on top.
# Each may use every folder beneath it.
TOP = ["console", "portal", "api", "agents", "app", "devtools", "cli", "__main__"]


def floors() -> dict[str, int]:
    """Each folder's floor, 0 the kernel's: the units beneath the features one a floor, in
    their order; a feature one over the highest of the features it declares (the first over
    every unit beneath); the top one a floor each, in order, over every feature."""
    floor = {unit: n for n, unit in enumerate(BENEATH)}

    def feature_floor(feature: str) -> int:
        if feature not in floor:
            used = [feature_floor(f) for f in FEATURES[feature]]
            floor[feature] = 1 + max(used, default=len(BENEATH) - 1)
        return floor[feature]

    for feature in FEATURES:
        feature_floor(feature)
    highest = max(floor.values())
    floor.update({unit: highest + 1 + n for n, unit in enumerate(TOP)})
    return floor
