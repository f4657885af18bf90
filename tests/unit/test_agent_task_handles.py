"""The tasks extension's handles (receiver/agents/task_handles.py): each relay state's MCP
status, and what a handle says of a task view."""

from __future__ import annotations

import pytest

from receiver.agents.task_handles import EXTENSION, handle, mcp_status, wants_handles
from receiver.lifecycle.rules.task import STATES


@pytest.mark.parametrize(
    ("state", "copying", "status"),
    [
        ("queued", False, "working"),
        ("running", False, "working"),
        ("succeeded", False, "completed"),
        ("succeeded", True, "working"),  # its links change once the copies are made
        ("failed", False, "failed"),
        ("cancelled", False, "cancelled"),
    ],
)
def test_each_relay_state_has_its_mcp_status(state: str, copying: bool, status: str) -> None:
    assert mcp_status(state, copying) == status


def test_every_relay_state_is_mapped_and_an_unknown_one_is_refused() -> None:
    assert {mcp_status(state, False) for state in STATES} <= {
        "working",
        "completed",
        "failed",
        "cancelled",
    }
    with pytest.raises(ValueError, match="no MCP status for the relay state 'lost'"):
        mcp_status("lost", False)


def test_a_handle_says_the_task_in_the_extensions_words() -> None:
    view = {
        "id": "t1",
        "state": "failed",
        "copying": False,
        "error": "content moderation",
        "created_at": 0.0,
        "updated_at": 1.5,
    }
    assert handle(view) == {
        "taskId": "t1",
        "status": "failed",
        "statusMessage": "failed: content moderation",
        "createdAt": "1970-01-01T00:00:00Z",
        "lastUpdatedAt": "1970-01-01T00:00:01.500000Z",
        "ttlMs": None,
        "pollIntervalMs": 2000,
    }
    copying = handle({**view, "state": "succeeded", "copying": True, "error": None})
    assert copying["status"] == "working"
    assert copying["statusMessage"] == "succeeded, copying the renders"


def test_only_a_client_declaring_the_extension_gets_handles() -> None:
    assert wants_handles({EXTENSION: {}})
    assert not wants_handles({"io.modelcontextprotocol/ui": {}})
    assert not wants_handles(None) and not wants_handles({})
