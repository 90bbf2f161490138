"""What every process of the inbox builds the same way from settings."""

from __future__ import annotations

import httpx

from core.settings import Settings
from tools.channels import ConnectorRegistry
from tools.channels.email import EmailConnector
from tools.channels.instagram import InstagramConnector
from tools.channels.webchat import WebchatConnector
from tools.channels.whatsapp import WhatsAppConnector
from tools.inbox.outbound import DeliveryPolicy
from tools.inbox.worker import InboxConfig


def build_connectors(http: httpx.AsyncClient, settings: Settings) -> ConnectorRegistry:
    """One connector per channel over the process's one HTTP client. Channels built on other
    branches register here too."""
    return ConnectorRegistry(
        [
            WhatsAppConnector(http, api_version=settings.whatsapp_api_version),
            InstagramConnector(http),
            EmailConnector(),
            WebchatConnector(),
        ]
    )


def inbox_config(settings: Settings) -> InboxConfig:
    return InboxConfig(
        quiet_s=settings.inbox_quiet_s,
        max_wait_s=max(settings.inbox_max_wait_s, settings.inbox_quiet_s),
        tick_s=settings.inbox_tick_s,
        policy=DeliveryPolicy(max_attempts=settings.inbox_send_attempts, base_s=settings.inbox_retry_base_s),
    )


__all__ = ["build_connectors", "inbox_config"]
