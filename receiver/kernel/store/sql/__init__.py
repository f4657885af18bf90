"""The text of every statement the store runs, written once for both backends, by what it
stores (text.py says how a text is written and what differs per backend).

Each backend loads these texts once, in its driver's placeholder style
(receiver/kernel/store/sqlite/statements.py, receiver/kernel/store/postgres/statements.py).
"""

from __future__ import annotations

from receiver.kernel.store.sql import (
    apps,
    attempts,
    downstreams,
    keys,
    mirrors,
    observations,
    outbox,
    polls,
    retention,
    schema,
    sessions,
    submit_queue,
    tasks,
)
from receiver.kernel.store.sql.text import Backend, PerBackend, Texts

MODULES = (
    schema,
    tasks,
    observations,
    polls,
    outbox,
    attempts,
    submit_queue,
    downstreams,
    mirrors,
    sessions,
    keys,
    apps,
    retention,
)


def _every_text() -> Texts:
    every: Texts = {}
    for module in MODULES:
        twice = every.keys() & module.TEXTS.keys()
        if twice:
            raise ValueError(f"statements written twice: {sorted(twice)}")
        every |= module.TEXTS
    return every


TEXTS = _every_text()


def texts_for(backend: Backend) -> dict[str, str]:
    """Every statement's text for `backend`, still in the `?` style."""
    return {
        name: getattr(text, backend) if isinstance(text, PerBackend) else text
        for name, text in TEXTS.items()
    }
