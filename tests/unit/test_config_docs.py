"""docs/configuration.md documents every key of the settings model exactly once, where an
operator writes it (its section, or `[advanced.<section>]`), and no key that does not exist."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from receiver.config import DownstreamConfig, Settings
from receiver.config.names import place

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def _rows(heading: str) -> list[list[str]]:
    """The table rows of one `## heading` section, as lists of cells."""
    text = DOC.read_text()
    body = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip().strip("|").split("|") for line in body.splitlines()]
    return [[cell.strip() for cell in row] for row in rows if len(row) > 2]


def _sectioned(heading: str) -> list[str]:
    keys, section = [], ""
    for cells in _rows(heading)[2:]:
        section = cells[0] or section
        keys += [f"{section}.{key.strip()}" for key in cells[1].split("/")]
    return keys


def _known() -> set[str]:
    known = set()
    for section, field in Settings.model_fields.items():
        if section == "downstream":
            continue
        model = field.annotation
        assert isinstance(model, type)
        known |= {place(section, key) for key in model.model_fields}  # type: ignore[attr-defined]
    return known


def test_every_section_key_documented_once_and_existing() -> None:
    documented = Counter(_sectioned("Every key") + _sectioned("Advanced keys"))
    twice = sorted(key for key, count in documented.items() if count > 1)
    assert not twice, f"documented more than once: {twice}"
    known = _known()
    assert not known - set(documented), f"undocumented: {sorted(known - set(documented))}"
    assert not set(documented) - known, f"no such key: {sorted(set(documented) - known)}"


def test_every_downstream_key_documented_once_and_existing() -> None:
    documented = Counter(
        key.strip() for cells in _rows("Downstreams")[2:] for key in cells[0].split("/")
    )
    assert all(count == 1 for count in documented.values()), documented
    assert set(documented) == set(DownstreamConfig.model_fields)


def test_every_advanced_key_is_documented_under_advanced() -> None:
    advanced = [key for key in _sectioned("Advanced keys")]
    assert advanced and all(key.startswith("advanced.") for key in advanced)
    assert not [key for key in _sectioned("Every key") if key.startswith("advanced.")]


def test_the_environment_variables_the_relay_reads_are_documented() -> None:
    text = DOC.read_text()
    for name in ("RECEIVER_WEBHOOK_SECRET", "RECEIVER_CONFIG", "PORT", "RECEIVER_URL"):
        assert re.search(rf"`{name}`", text), name
    defaults = Settings()
    named = [
        defaults.upstream.api_key_env,
        defaults.server.admin_token_env,
        defaults.callbacks.secret_env,
        defaults.delivery.task_webhook_secret_env,
        defaults.media.access_key_id_env,
        defaults.media.secret_access_key_env,
    ]
    assert all(f"`{name}`" in text for name in named)
