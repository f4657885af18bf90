"""The settings: every section of the config file, each with its defaults (sections.py),
and the downstreams it declares (downstream.py)."""

from __future__ import annotations

from pydantic import Field

from receiver.config.downstream import DownstreamConfig
from receiver.config.sections import (
    AlertsConfig,
    CallbackConfig,
    ConsoleConfig,
    DeliveryConfig,
    LoggingConfig,
    McpConfig,
    MediaConfig,
    PollingConfig,
    RetentionConfig,
    Section,
    ServerConfig,
    StorageConfig,
    UpstreamConfig,
)


class Settings(Section):
    server: ServerConfig = ServerConfig()
    upstream: UpstreamConfig = UpstreamConfig()
    callbacks: CallbackConfig = CallbackConfig()
    polling: PollingConfig = PollingConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    storage: StorageConfig = StorageConfig()
    media: MediaConfig = MediaConfig()
    logging: LoggingConfig = LoggingConfig()
    console: ConsoleConfig = ConsoleConfig()
    retention: RetentionConfig = RetentionConfig()
    mcp: McpConfig = McpConfig()
    alerts: AlertsConfig = AlertsConfig()
    downstream: list[DownstreamConfig] = Field(default_factory=list)
