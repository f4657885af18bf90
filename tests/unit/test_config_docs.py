"""The configuration's reference (docs/reference/configuration.md, written from the settings
model) lists every key exactly once, where an operator writes it (its section, or
`[advanced.<section>]`), and no key that does not exist; docs/configuration.md names every
environment variable the relay reads."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from receiver.config import DownstreamConfig, Settings
from receiver.config.names import place

DOCS = Path(__file__).parents[2] / "docs"
DOC = DOCS / "configuration.md"
REFERENCE = DOCS / "reference" / "configuration.md"


def _keys(heading: str | None = None) -> list[str]:
    """The key of every row of the reference's tables (of one `## heading`, if named), but
    the keys inside a key's table (`tls.ca`)."""
    text = REFERENCE.read_text()
    if heading is not None:
        text = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([\w.]+)`(?: \(|\s\|)", text, re.MULTILINE)


def _sections() -> list[str]:
    return [key for key in _keys() if "." in key and not key.startswith(("auth.", "tls."))]


def _known() -> set[str]:
    known = set()
    for section, field in Settings.model_fields.items():
        if section == "downstream":
            continue
        model = field.annotation
        assert isinstance(model, type)
        known |= {place(section, key) for key in model.model_fields}  # type: ignore[attr-defined]
        known |= {  # a table's own keys, one row each (server.share_apps.share_accent)
            f"{place(section, key)}.{inner}"
            for key, sub in model.model_fields.items()  # type: ignore[attr-defined]
            for arg in getattr(sub.annotation, "__args__", ())
            for inner in getattr(arg, "model_fields", ())
        }
    return known


def test_every_section_key_documented_once_and_existing() -> None:
    documented = Counter(_sections())
    twice = sorted(key for key, count in documented.items() if count > 1)
    assert not twice, f"documented more than once: {twice}"
    known = _known()
    assert not known - set(documented), f"undocumented: {sorted(known - set(documented))}"
    assert not set(documented) - known, f"no such key: {sorted(set(documented) - known)}"


def test_every_downstream_key_documented_once_and_existing() -> None:
    documented = Counter(key for key in _keys("[[downstream]]") if "." not in key)
    assert all(count == 1 for count in documented.values()), documented
    assert set(documented) == set(DownstreamConfig.model_fields)


def test_every_advanced_key_is_documented_under_advanced() -> None:
    headings = re.findall(r"^## \[(advanced\.\w+)\]$", REFERENCE.read_text(), re.MULTILINE)
    advanced = [key for heading in headings for key in _keys(f"[{heading}]")]
    assert advanced and all(key.startswith("advanced.") for key in advanced)
    plain = [key for key in _sections() if key not in advanced]
    assert not [key for key in plain if key.startswith("advanced.")]


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
