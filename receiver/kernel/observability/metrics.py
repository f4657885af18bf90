"""Prometheus metrics, one registry per service so several can live in one process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client import Counter as _Counter
from prometheus_client import Histogram as _Histogram

_M = TypeVar("_M", bound="_ChildOnce")

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class _ChildOnce:
    """prometheus_client's `labels()` formats the values and takes a lock at every call,
    four times a callback on the busiest paths: each child is made once, then kept here."""

    def labels(self: _M, *labelvalues: object, **labelkwargs: object) -> _M:
        made: dict[tuple[object, ...], Any] = self.__dict__.setdefault("_children_made", {})
        child = made.get(labelvalues) if not labelkwargs else None
        if child is None:
            child = super().labels(*labelvalues, **labelkwargs)  # type: ignore[misc]
            if not labelkwargs:
                made[labelvalues] = child
        return child  # type: ignore[no-any-return]


class Counter(_ChildOnce, _Counter):
    pass


class Histogram(_ChildOnce, _Histogram):
    pass


class Metrics:
    """What the relay counts. Its caller names what the metrics only label: the states an
    outbox row can be in (`delivery_states`, a gauge each) and a downstream's label from the
    name it is kept under (`downstream_label`)."""

    def __init__(
        self, delivery_states: Sequence[str], downstream_label: Callable[[str], str]
    ) -> None:
        self._delivery_states = tuple(delivery_states)
        self._downstream_label = downstream_label
        self.registry = CollectorRegistry()
        counter = partial(Counter, registry=self.registry)
        gauge = partial(Gauge, registry=self.registry)
        timer = partial(Histogram, buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.callbacks = counter(
            "relay_callbacks_total",
            "Inbound callbacks by final outcome: confirmed, contradicted or unconfirmed by"
            " CometAPI, duplicate, or refused (rejected_*, store_unavailable)",
            ["outcome"],
        )
        self.callback_seconds = timer(
            "relay_callback_seconds", "Time to verify, parse and commit a callback"
        )
        self.submits = counter(
            "relay_submits_total",
            "Tasks CometAPI took (accepted) or refused for good, by kind",
            ["kind", "outcome"],
        )
        self.deliveries = counter(
            "relay_deliveries_total",
            "Delivery attempts by downstream and outcome",
            ["downstream", "outcome"],
        )
        # Deliveries a downstream's filter did not take: refused (false), or failed on.
        self.filtered = counter(
            "relay_deliveries_filtered_total",
            "Deliveries a downstream's filter did not take, by downstream and whether it failed",
            ["downstream", "failed"],
        )
        self.delivery_seconds = timer(
            "relay_delivery_seconds", "Time of one delivery attempt", ["downstream"]
        )
        self.media_files = counter(
            "relay_media_files_total",
            "Files copied to the media store (mirrored), or failures by reason",
            ["outcome"],
        )
        self.media_bytes = counter("relay_media_bytes_total", "Bytes copied to the media store")
        self.media_stored = gauge(
            "relay_media_stored_bytes",
            "Bytes the media store holds (counted at each hourly prune, plus copies since)",
        )
        self.polls = counter("relay_polls_total", "Polls by outcome", ["outcome"])
        self.poll_seconds = timer("relay_poll_seconds", "Time of one poll")
        self.tasks = gauge("relay_tasks", "Stored tasks by state", ["state"])
        self.streams_open = gauge("relay_streams_open", "Live streams open in this process")
        self.credits = gauge(
            "relay_credits",
            "CometAPI credits over stored tasks (charged = point, refunded = refund)",
            ["kind"],
        )
        self.downstream_state = gauge(
            "relay_downstream_state",
            "Each downstream: 0 closed, 1 half-open, 2 open (breaker, this process), 3 disabled",
            ["downstream"],
        )
        # This process's breakers (set by the fan-out); `disabled` comes from the store.
        self.breakers: dict[str, int] = {}
        self.queue = gauge(
            "relay_outbox",
            "Stored deliveries by state (pending = retry queue depth, dead = dead-letter size,"
            " mirroring = waiting for a copy of the renders)",
            ["state"],
        )
        # Retention (receiver/retention/worker.py).
        self.pruned = counter(
            "relay_pruned_total",
            "Rows removed by retention, by kind: tasks, events (with their raw bodies),"
            " deliveries, attempts, mirrors, chat_messages",
            ["kind"],
        )
        self.store_bytes = gauge(
            "relay_store_bytes",
            "What the store takes on disk (SQLite: the database file; PostgreSQL: its tables)",
        )
        self.store_free_bytes = gauge(
            "relay_store_free_bytes",
            "Of it, free pages a SQLite file keeps for new rows (0 on PostgreSQL)",
        )

        self.submit_attempts = counter(
            "relay_submit_attempts_total",
            "Sends to CometAPI by outcome: accepted, retry (queued again), failed",
            ["outcome"],
        )
        self.directory_rows = counter(
            "relay_directory_rows_read_total",
            "Rows of downstreams made through the API read to follow their changes (only the"
            " changed ones: a tick with nothing new reads none)",
        )
        self.item_failures = counter(
            "relay_item_failures_total",
            "Items a worker could not handle (an exception of that item alone: it was failed or"
            " set aside with the reason, and the worker went on), by worker",
            ["worker"],
        )
        self.worker_failures = counter(
            "relay_worker_failures_total",
            "Background workers that raised, by worker: each is started again after a backoff"
            " (1 s, doubling to 60 s), /readyz answering 503 meanwhile",
            ["worker"],
        )
        self.submit_queue = gauge(
            "relay_submit_queue", "Tasks waiting in the submit queue to be sent"
        )
        self.upstream_running = gauge(
            "relay_upstream_running",
            "Tasks sent to CometAPI (or being sent) and not ended: what"
            " upstream.max_concurrent_tasks caps",
        )

    def downstream(self, kept: str) -> str:
        """A downstream's label, by the name it is kept under."""
        return self._downstream_label(kept)

    def render(self, counts: dict[str, float] | None) -> bytes:
        """The exposition text, with the store's gauges as of now (None: as last read)."""
        if counts is not None:
            self.set_store_gauges(counts)
        return generate_latest(self.registry)

    def set_store_gauges(self, counts: dict[str, float]) -> None:
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            self.tasks.labels(state).set(counts.get(f"tasks_{state}", 0))
        for state in self._delivery_states:
            self.queue.labels(state).set(counts.get(f"deliveries_{state}", 0))
        for kind in ("charged", "refunded"):
            self.credits.labels(kind).set(counts.get(f"credits_{kind}", 0))
        self.submit_queue.set(counts.get("submit_waiting", 0))
        self.upstream_running.set(counts.get("upstream_running", 0))
        self.store_bytes.set(counts.get("store_bytes", 0))
        self.store_free_bytes.set(counts.get("store_free_bytes", 0))
        disabled = {k.removeprefix("disabled:") for k in counts if k.startswith("disabled:")}
        for name in disabled | set(self.breakers):
            number = 3 if name in disabled else self.breakers[name]
            self.downstream_state.labels(self.downstream(name)).set(number)
