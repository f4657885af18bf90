"""When SQLite's WAL is cut back after a checkpoint, and when its file is reused as it is."""

from __future__ import annotations

import pytest

from receiver.kernel.store.sqlite.checkpoints import WAL_KEEP_BYTES, cut_back

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("wal", "last", "commits", "cut"),
    [
        (WAL_KEEP_BYTES, 0, 1, False),  # never below the size kept
        (6 * MIB, 6 * MIB, 400, False),  # a steady load reuses its file
        (6 * MIB, 5 * MIB, 400, False),  # ... growing a little
        (6 * MIB, 0, 400, True),  # ... the first busy second
        (6 * MIB, 6 * MIB, 20, True),  # a quiet second after the load
        (30 * MIB, 6 * MIB, 400, True),  # a large write under the load
        (60 * MIB, 0, 3, True),  # a large write on a quiet relay
    ],
)
def test_the_wal_is_cut_back_after_a_quiet_second_or_a_large_write(
    wal: int, last: int, commits: int, cut: bool
) -> None:
    assert cut_back(wal, last, commits) is cut
