"""Without the cel extra, a filter or transform is refused in words naming the extra, never
with an import error (the core install runs this too)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from receiver.config import ManagedDownstreamConfig, problems
from receiver.expressions import rules

pytestmark = pytest.mark.unit


def test_a_filter_without_the_cel_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "installed", lambda extra: False)
    with pytest.raises(ValidationError) as caught:
        ManagedDownstreamConfig.model_validate(
            {"name": "crm", "url": "https://x.example/h", "filter": "true"}
        )
    [line] = problems(caught.value, "body")
    assert line == (
        "body: downstream 'crm': filter needs the relay installed with its cel extra:"
        " pip install -c constraints.txt -e '.[cel]' (in the relay's clone)"
    )
    plain = ManagedDownstreamConfig.model_validate({"name": "crm", "url": "https://x.example/h"})
    assert plain.filter is None and plain.headers == {}
