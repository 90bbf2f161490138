"""The web chat "provider" is us: inbound items built from widget posts, outbound parts
acknowledged at once (the widget reads them from the conversation stream)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from ..base import AccountView, SendResult, WindowState
from ..models import AdReferral, Channel, ContactIdentity, InboundMessage, OutboundPart
from .errors import WidgetMessageRejected

PROVIDER = "webchat"
MAX_TEXT = 4000


def inbound_message(
    key: str,
    visitor_id: str,
    client_message_id: str,
    text: str,
    name: str | None,
    referral: AdReferral | None = None,
) -> InboundMessage:
    """A visitor's message; the same ``client_message_id`` twice is one message (dedupe)."""
    if not text.strip():
        raise WidgetMessageRejected("a chat message needs text")
    if len(text) > MAX_TEXT:
        raise WidgetMessageRejected(f"chat messages are at most {MAX_TEXT} characters", details={"limit": MAX_TEXT})
    return InboundMessage(
        provider=PROVIDER,
        provider_message_id=f"{visitor_id}:{client_message_id}",
        channel="chat",
        account_external_id=key,
        contact=ContactIdentity(kind="platform", value=visitor_id, name=name),
        type="text",
        text=text,
        sent_at=datetime.now(UTC),
        referral=referral,
    )


class WebchatConnector:
    """``ChannelConnector`` for the widget: no window; sending is storing (done by the core)."""

    channel: Channel = "chat"
    provider = PROVIDER

    def check_window(self, part: OutboundPart, window: WindowState) -> None:
        self.validate(part)

    def validate(self, part: OutboundPart) -> None:
        if part.kind not in ("text", "interactive"):
            raise WidgetMessageRejected("the chat widget shows text (and buttons) only", details={"kind": part.kind})

    async def send(self, account: AccountView, recipient: str, part: OutboundPart) -> SendResult:
        return SendResult(f"chat:{uuid.uuid4()}", {"visitor_id": recipient})


__all__ = ["PROVIDER", "WebchatConnector", "inbound_message"]
