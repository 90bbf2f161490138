"""Instagram webhooks for the inbox: which accounts signed a body, and its normalized batch.

Customer messages become ``InboundMessage`` (contact: the IGSID as a ``platform``
identity; reactions are messages of type ``reaction`` keyed ``<mid>:reaction:<ts>``);
our own echoes become a ``sent`` ``StatusUpdate`` and ``read`` events a ``read`` one, so
delivery statuses on Instagram come from the same path as WhatsApp's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ..base import AccountView
from ..errors import ChannelNotConfigured
from ..meta import matching_secrets
from ..models import ContactIdentity, ContentType, InboundBatch, InboundMessage, MediaRef, StatusUpdate
from ..referral import REFERRAL_ERROR, instagram_referral, read_referral
from .client import PROVIDER
from .parse import InstagramMessage, InstagramReaction, InstagramRead, parse_webhook

_TYPES: dict[str, ContentType] = {"image": "image", "video": "video", "audio": "audio", "file": "document"}


def authenticate(body: bytes, header: str | None, accounts: Sequence[AccountView]) -> list[UUID]:
    """The accounts whose app secret signed ``body`` (every candidate checked)."""
    candidates = []
    for a in accounts:
        try:
            candidates.append((str(a.id), a.secret("app_secret")))
        except ChannelNotConfigured:
            continue
    return [UUID(k) for k in matching_secrets(body, header, candidates)]


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _message(ev: InstagramMessage) -> InboundMessage:
    media = tuple(MediaRef(url=a.url) for a in ev.attachments if a.url)
    kind: ContentType = "text"
    if ev.attachments:
        kind = _TYPES.get(ev.attachments[0].type, "unsupported")
    elif not ev.text:
        kind = "unsupported"
    extra: dict[str, Any] = {"attachment_types": [a.type for a in ev.attachments]} if ev.attachments else {}
    referral, referral_error = read_referral(ev.referral, instagram_referral)
    if referral_error:
        extra[REFERRAL_ERROR] = referral_error
    return InboundMessage(
        provider=PROVIDER,
        provider_message_id=ev.mid,
        channel="instagram",
        account_external_id=ev.account_id,
        contact=ContactIdentity(kind="platform", value=ev.customer_id),
        type=kind,
        text=ev.text or "",
        media=media,
        sent_at=_at(ev.timestamp_ms),
        reply_to=ev.reply_to_mid,
        extra=extra,
        referral=referral,
    )


def parse(body: bytes) -> InboundBatch:
    """``InboundBatch`` of a signed body; ``MalformedWebhook`` when it is not Instagram's."""
    parsed = parse_webhook(body)
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for ev in parsed.events:
        if isinstance(ev, InstagramMessage):
            if ev.is_echo:
                statuses.append(
                    StatusUpdate(
                        provider=PROVIDER,
                        provider_message_id=ev.mid,
                        account_external_id=ev.account_id,
                        status="sent",
                        at=_at(ev.timestamp_ms),
                        recipient=ev.customer_id,
                    )
                )
            elif not ev.is_deleted:
                messages.append(_message(ev))
        elif isinstance(ev, InstagramReaction):
            messages.append(
                InboundMessage(
                    provider=PROVIDER,
                    provider_message_id=f"{ev.mid}:reaction:{ev.timestamp_ms}",
                    channel="instagram",
                    account_external_id=ev.account_id,
                    contact=ContactIdentity(kind="platform", value=ev.customer_id),
                    type="reaction",
                    text=ev.emoji or "" if ev.action == "react" else "",
                    sent_at=_at(ev.timestamp_ms),
                    reply_to=ev.mid,
                    extra={"action": ev.action, "reaction": ev.reaction, "emoji": ev.emoji},
                )
            )
        elif isinstance(ev, InstagramRead):
            statuses.append(
                StatusUpdate(
                    provider=PROVIDER,
                    provider_message_id=ev.mid,
                    account_external_id=ev.account_id,
                    status="read",
                    at=_at(ev.timestamp_ms),
                    recipient=ev.customer_id,
                )
            )
    return InboundBatch(messages=tuple(messages), statuses=tuple(statuses))


__all__ = ["authenticate", "parse"]
