"""The connector protocol: what the inbox core needs from a channel.

A channel plugs into the inbox with three pieces (docs/inbox.md, "Adding a channel"):

1. a ``ChannelConnector`` (this protocol) over an injected ``httpx.AsyncClient`` that
   sends ``OutboundPart`` values for one ``AccountView`` and enforces the provider's
   reply-window rules *before* calling the provider (``check_window``);
2. a webhook parser that verifies the provider's signature and returns an
   ``InboundBatch`` (normalized ``InboundMessage`` / ``StatusUpdate`` items);
3. a route that calls ``tools.inbox.accept`` with that batch once the signature holds.

The core registers connectors by channel in a ``ConnectorRegistry``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pydantic import SecretStr

from .errors import ChannelNotConfigured
from .models import Channel, OutboundPart


@dataclass(frozen=True, slots=True)
class AccountView:
    """A channel account as a connector sees it: ids, settings and decrypted secrets.

    Built by ``tools.inbox.accounts`` for one send; secrets stay ``SecretStr`` so they
    never print, and the view never crosses a process boundary."""

    id: UUID
    tenant_id: UUID
    channel: Channel
    provider: str
    external_id: str
    base_url: str | None
    config: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, SecretStr] = field(default_factory=dict)

    def secret(self, name: str) -> str:
        value = self.secrets.get(name)
        if value is None:
            raise ChannelNotConfigured(
                f"the {self.channel} account has no {name}", details={"account_id": str(self.id), "secret": name}
            )
        return value.get_secret_value()


@dataclass(frozen=True, slots=True)
class SendResult:
    provider_message_id: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the core knows about the conversation when it sends: the last inbound time."""

    last_inbound_at: datetime | None
    now: datetime


class ChannelConnector(Protocol):
    """One provider's outbound side. Implementations: ``tools.channels.whatsapp.WhatsAppConnector``."""

    channel: Channel
    provider: str

    def check_window(self, part: OutboundPart, window: WindowState) -> None:
        """Raise ``OutsideReplyWindow`` (with the allowed alternative) when the provider
        would refuse ``part`` now; return when it may be sent."""
        ...

    def validate(self, part: OutboundPart) -> None:
        """Raise ``MediaTooLarge`` or ``ValueError`` for a part the provider cannot carry."""
        ...

    async def send(self, account: AccountView, recipient: str, part: OutboundPart) -> SendResult:
        """Send one part; ``ChannelSendError`` (``retriable`` set) when the provider refuses."""
        ...


class ConnectorRegistry:
    """The connectors of one process, by channel (one per channel)."""

    def __init__(self, connectors: list[ChannelConnector] | None = None) -> None:
        self._by_channel: dict[str, ChannelConnector] = {}
        for c in connectors or []:
            self.register(c)

    def register(self, connector: ChannelConnector) -> None:
        self._by_channel[connector.channel] = connector

    def get(self, channel: str) -> ChannelConnector:
        connector = self._by_channel.get(channel)
        if connector is None:
            raise ChannelNotConfigured(f"no connector for channel {channel}", details={"channel": channel})
        return connector

    def channels(self) -> list[str]:
        return sorted(self._by_channel)


__all__ = ["AccountView", "ChannelConnector", "ConnectorRegistry", "SendResult", "WindowState"]
