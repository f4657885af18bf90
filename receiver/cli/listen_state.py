"""What `receiver listen` keeps between runs, for each relay, app and pull downstream: the
cursor after the last event forwarded and the local server's secret. One small file, its
owner's alone, in the user's state directory, not the working one, where a repository
would take it in."""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

# The API takes a cursor of at most 512 characters; a `next` longer than that is no cursor.
MAX_CURSOR_CHARS = 512
# Entries kept, the least recently used dropped first: bounds the file, whatever is listened.
MAX_ENTRIES = 64
# A file over this is none this command wrote: it is left aside, not read.
MAX_STATE_BYTES = 256 * 1024
# The file of an earlier release, in the working directory, which read it from there.
OLD_STATE = Path(".receiver-listen.json")


def default_path() -> Path:
    """$XDG_STATE_HOME/runway-relay/listen.json, else ~/.local/state/runway-relay/."""
    base = os.environ.get("XDG_STATE_HOME") or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "runway-relay" / "listen.json"


def entry_key(relay_url: str, key: str, downstream: str) -> str:
    """What an entry is kept under: the relay, the app (a digest of its key: never the key),
    and the downstream; a cursor of one is never sent to another."""
    app = hashlib.sha256(b"receiver listen:" + key.encode()).hexdigest()[:16]
    return f"{relay_url.rstrip('/')} {app} {downstream}"


@dataclass
class State:
    """One entry of the file, and the rest of it, written back as it was."""

    path: Path
    key: str
    after: str | None = None
    secret: str | None = None
    # Why the file was not read (too big, not this command's), said once; None: it was.
    unread: str | None = None
    others: dict[str, dict[str, object]] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, key: str) -> State:
        entries, unread = _entries(path)
        mine = entries.pop(key, {})
        after, secret = _text(mine.get("after"), MAX_CURSOR_CHARS), _text(mine.get("secret"), 200)
        return cls(path, key, after, secret, unread, entries)

    def save(self) -> None:
        """Written whole to a file of its own (owner only), then moved over the old one: a
        crash leaves the old file or the new, never half of one."""
        entries = dict(self.others)
        entries[self.key] = {"after": self.after, "secret": self.secret, "used": time.time()}
        newest = sorted(entries.items(), key=lambda kv: _used(kv[1]), reverse=True)
        text = json.dumps({"entries": dict(newest[:MAX_ENTRIES])}, indent=1)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # a file left there before keeps its mode else
            out.write(text)
        os.replace(temporary, self.path)


def _entries(path: Path) -> tuple[dict[str, dict[str, object]], str | None]:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return {}, None
    except OSError as exc:
        return {}, f"cannot be read ({exc.strerror})"
    if len(raw) > MAX_STATE_BYTES:
        return {}, f"is over {MAX_STATE_BYTES // 1024} KiB"
    try:
        kept = json.loads(raw)
    except ValueError:
        return {}, "is not JSON"
    entries = kept.get("entries") if isinstance(kept, dict) else None
    if not isinstance(entries, dict):
        return {}, "is not one this command wrote"
    return {k: v for k, v in entries.items() if isinstance(v, dict)}, None


def _text(value: object, limit: int) -> str | None:
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


def _used(entry: dict[str, object]) -> float:
    used = entry.get("used")
    return float(used) if isinstance(used, int | float) else 0.0
