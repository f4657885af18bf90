"""`receiver listen`'s state file (receiver/cli/listen_state.py) and what the command line
prints of another party's text (receiver/cli/common.py): bounded, owner-only, one entry per
relay, app and downstream; no terminal escape printed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from receiver.cli.common import printable
from receiver.cli.listen_state import (
    MAX_ENTRIES,
    MAX_STATE_BYTES,
    State,
    default_path,
    entry_key,
)


def test_entries_are_per_relay_app_and_downstream_and_never_hold_the_key(tmp_path: Path):
    path = tmp_path / "s" / "listen.json"
    keys = [
        entry_key("http://a", "key_one", "listen"),
        entry_key("http://a/", "key_one", "other"),
        entry_key("http://b", "key_one", "listen"),
        entry_key("http://a", "key_two", "listen"),
    ]
    assert len(set(keys)) == 4
    for n, key in enumerate(keys):
        state = State.read(path, key)
        state.after, state.secret = f"c{n}", f"whsec_{n}"
        state.save()
    assert "key_one" not in path.read_text()
    assert [State.read(path, key).after for key in keys] == ["c0", "c1", "c2", "c3"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_the_file_stays_small_and_an_oversized_one_is_not_read(tmp_path: Path):
    path = tmp_path / "listen.json"
    last = MAX_ENTRIES + 9
    for n in range(last + 1):
        state = State.read(path, f"entry {n}")
        state.after = "c" * 600 if n == last else "c"  # longer than any cursor: not kept
        state.save()
    assert len(json.loads(path.read_text())["entries"]) == MAX_ENTRIES
    assert State.read(path, "entry 0").after is None  # the oldest went first
    assert State.read(path, "entry 10").after == "c"
    assert State.read(path, f"entry {last}").after is None
    path.write_text(" " * (MAX_STATE_BYTES + 1))
    path.chmod(0o644)
    unread = State.read(path, "entry 70")
    assert unread.unread is not None and unread.after is None
    unread.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.stat().st_size < 1024


def test_the_state_directory_is_the_users(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_path() == tmp_path / "runway-relay" / "listen.json"
    monkeypatch.setenv("XDG_STATE_HOME", "relative")  # not absolute: ignored, as the spec says
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_path() == tmp_path / ".local" / "state" / "runway-relay" / "listen.json"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("\x1b[2J\x1b[31mred\x1b[0m", "red"),
        ("\x1b]0;title\x07after", "after"),
        ("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("one\nline\r\ttab\x00", "onelinetab"),
        ("\x9b2Jx\u202eevil\u2066", "2Jxevil"),
        ("plain: ünïcode ✓", "plain: ünïcode ✓"),
    ],
)
def test_printable_takes_out_what_a_terminal_obeys(given: str, shown: str):
    assert printable(given) == shown
