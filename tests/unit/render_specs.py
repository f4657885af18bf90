"""Each chat format's platform stand-in by format name, shared by the rendering fuzz test
here and the delivery test of tests/e2e/test_render_delivery.py (Telegram's, which also
takes the Bot API method, is imported on its own)."""

from __future__ import annotations

from tests.unit.test_render_discord import discord_spec
from tests.unit.test_render_google_chat import google_chat_spec
from tests.unit.test_render_mattermost import mattermost_spec
from tests.unit.test_render_slack import slack_spec
from tests.unit.test_render_teams import teams_spec

SPECS = {
    "slack": slack_spec,
    "discord": discord_spec,
    "teams": teams_spec,
    "google_chat": google_chat_spec,
    "mattermost": mattermost_spec,
}
