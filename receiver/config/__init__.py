"""Configuration: a TOML file for shape, environment variables for secrets.

Secrets never live in the file; the file names the environment variables that hold them.
A bad or incomplete configuration raises `ConfigError`: one line naming every key that is
wrong and every environment variable missing, so that one start-up shows them all.
"""

from __future__ import annotations

from receiver.config.downstream import (
    SHOWN_SETTINGS,
    DownstreamChange,
    DownstreamConfig,
    ManagedDownstreamConfig,
)
from receiver.config.load import (
    Config,
    Downstream,
    Secrets,
    effective_settings,
    load,
    managed_downstream,
    parse_settings,
    problems,
    read_settings,
    resolve,
    timeout_problem,
)
from receiver.config.sections import CallbackConfig, PollingConfig, RetentionConfig, ServerConfig
from receiver.config.settings import Settings

__all__ = [
    "SHOWN_SETTINGS",
    "CallbackConfig",
    "Config",
    "Downstream",
    "DownstreamChange",
    "DownstreamConfig",
    "ManagedDownstreamConfig",
    "PollingConfig",
    "RetentionConfig",
    "Secrets",
    "ServerConfig",
    "Settings",
    "effective_settings",
    "load",
    "managed_downstream",
    "parse_settings",
    "problems",
    "read_settings",
    "resolve",
    "timeout_problem",
]
