"""Where each key of the file goes: what an operator sets in its own section, the internal
tuning knobs under `[advanced.<section>]`, and the old names still read (one deprecation
line each at start), so that a file written for an older release keeps working."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

# Tuning knobs with working defaults: read from `[advanced.<section>]`.
ADVANCED: dict[str, frozenset[str]] = {
    "server": frozenset(
        {
            "head_timeout_seconds",
            "body_timeout_seconds",
            "max_connections",
            "request_calls_per_app",
            "request_calls_per_key_per_second",
            "request_calls_in_all",
            "max_streams",
            "max_streams_per_client",
            "max_share_streams",
            "max_streams_per_share_link",
            "share_frame_ancestors",
            "metrics_count_seconds",
            "search_window",
        }
    ),
    "upstream": frozenset(
        {
            "runway_version",
            "submit_retry_initial_seconds",
            "submit_retry_max_seconds",
            "submit_give_up_seconds",
            "max_retry_after_seconds",
        }
    ),
    "callbacks": frozenset(
        {
            "max_body_bytes",
            "corroborate_seconds",
            "min_poll_gap_seconds",
            "ask_within_seconds",
            "max_history_per_task",
            "max_history_bytes_per_task",
        }
    ),
    "polling": frozenset(
        {
            "initial_delay_seconds",
            "interval_seconds",
            "max_interval_seconds",
            "backoff_factor",
            "task_not_exist_grace_seconds",
            "near_gap_seconds",
            "running_gap_seconds",
            "waiting_gap_seconds",
            "ceiling_seconds",
            "lost_callback_polls",
            "lost_callback_gap_seconds",
            "scan_seconds",
            "batch_size",
            "poll_lease_seconds",
        }
    ),
    "delivery": frozenset(
        {
            "jitter",
            "max_downstream_retry_after_seconds",
            "handshake_ask_again_schedule",
            "concurrency",
            "outbox_scan_seconds",
            "attempt_lease_seconds",
            "shutdown_grace_seconds",
            "task_webhook_timeout",
            "task_webhook_max_in_flight",
        }
    ),
    "media": frozenset({"download_timeout_seconds", "mirror_lease_seconds", "mirror_scan_seconds"}),
    "console": frozenset({"global_login_failures_per_minute"}),
    "retention": frozenset({"prune_interval_seconds", "tasks_per_batch"}),
}

# Old names that meant different things in different sections, and their new names.
RENAMED: dict[tuple[str, str], str] = {
    ("polling", "tick_seconds"): "scan_seconds",
    ("polling", "lease_seconds"): "poll_lease_seconds",
    ("delivery", "tick_seconds"): "outbox_scan_seconds",
    ("delivery", "lease_seconds"): "attempt_lease_seconds",
    ("delivery", "max_retry_after_seconds"): "max_downstream_retry_after_seconds",
    ("media", "tick_seconds"): "mirror_scan_seconds",
    ("media", "lease_seconds"): "mirror_lease_seconds",
    ("media", "allow_private_networks"): "allow_private_sources",
    ("retention", "interval_seconds"): "prune_interval_seconds",
    ("retention", "batch_size"): "tasks_per_batch",
}


def place(section: str, key: str) -> str:
    """Where a key of a section is written now: `section.key` or `advanced.section.key`."""
    return f"advanced.{section}.{key}" if key in ADVANCED.get(section, ()) else f"{section}.{key}"


def unknown(where: str, known: Iterable[str]) -> str:
    """An unknown key, with the nearest known one when there is one close enough."""
    nearest = difflib.get_close_matches(where.rsplit(".", 1)[-1], list(known), n=1)
    hint = f"; did you mean `{nearest[0]}`?" if nearest else ""
    return f"unknown key `{where}`{hint}"


class Normalised:
    """The file's data in the settings model's flat shape, with what was said about it."""

    def __init__(self, data: dict[str, object]) -> None:
        self.data: dict[str, object] = dict(data)
        self.deprecations: list[str] = []
        self.problems: list[str] = []
        # Where each setting was written, to refuse one written twice under two names.
        self._written: dict[tuple[str, str], str] = {}
        advanced = self.data.pop("advanced", {})
        if not isinstance(advanced, dict):
            self.problems.append("config key advanced: must be a table of sections")
            advanced = {}
        for section in list(self.data):
            table = self.data[section]
            if isinstance(table, dict):
                self.data[section] = self._flat(section, table)
        for section, table in advanced.items():
            self._merge_advanced(section, table)

    def _flat(self, section: str, table: dict[str, object]) -> dict[str, object]:
        kept: dict[str, object] = {}
        for key, value in table.items():
            new = RENAMED.get((section, key), key)
            if new != key or new in ADVANCED.get(section, ()):
                self.deprecations.append(
                    f"config key {section}.{key} is deprecated: use {place(section, new)}"
                )
            if self._once(section, new, f"{section}.{key}"):
                kept[new] = value
        return kept

    def _once(self, section: str, key: str, where: str) -> bool:
        """Whether this is the first time the setting is written; else a problem naming
        both places, for the file would say two things and one would be dropped unseen."""
        first = self._written.setdefault((section, key), where)
        if first == where:
            return True
        self.problems.append(
            f"config keys {first} and {where} are the same setting under two names:"
            f" keep only {place(section, key)}"
        )
        return False

    def _merge_advanced(self, section: str, table: object) -> None:
        if section not in ADVANCED:
            self.problems.append(unknown(f"advanced.{section}", ADVANCED))
            return
        if not isinstance(table, dict):
            self.problems.append(f"config key advanced.{section}: must be a table")
            return
        into = self.data.setdefault(section, {})
        if not isinstance(into, dict):
            return  # the section itself is wrong, and is reported as such
        for key, value in table.items():
            new = RENAMED.get((section, key), key)
            if new not in ADVANCED[section]:
                where = f"advanced.{section}.{key}"
                self.problems.append(unknown(where, ADVANCED[section]))
                continue
            if new != key:
                self.deprecations.append(
                    f"config key advanced.{section}.{key} is deprecated: use {place(section, new)}"
                )
            if self._once(section, new, f"advanced.{section}.{key}"):
                into[new] = value
