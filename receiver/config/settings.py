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
from receiver.lifecycle.rules.records import Wakeups


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

    def wakeups(self) -> Wakeups:
        """What a recorded change can give work to: the copies of finished renders, and the
        submits a task that ends makes room for under a cap."""
        return Wakeups(self.media.enabled, self.upstream.max_concurrent_tasks > 0)
