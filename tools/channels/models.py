"""The normalized messages every channel connector speaks (the inbox core's vocabulary).

A connector turns its provider's webhook into ``InboundMessage`` and ``StatusUpdate``
items and sends ``OutboundPart`` values. The inbox (``tools.inbox``) stores and processes
only these, so a new channel never touches the core. They are frozen pydantic models:
they travel through the outbox (``inbound_deliveries.item``) and between processes, and
evolve by adding optional fields.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Channel = Literal["whatsapp", "instagram", "email", "chat"]
CHANNELS: tuple[Channel, ...] = ("whatsapp", "instagram", "email", "chat")

ContentType = Literal[
    "text",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "interactive",
    "button",
    "location",
    "reaction",
    "contacts",
    "template",
    "unsupported",
]
DeliveryStatus = Literal["sent", "delivered", "read", "failed"]
# Precedence of delivery statuses: callbacks arrive out of order (read before delivered);
# a status never moves a message back to a lower rank. failed ranks above sent only.
STATUS_RANK: dict[str, int] = {"queued": 0, "sending": 1, "sent": 2, "failed": 3, "delivered": 4, "read": 5}

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def e164(raw: str) -> str:
    """``raw`` as E.164 (``+5511999990000``): WhatsApp ids are digits without the ``+``."""
    digits = re.sub(r"[^\d]", "", raw)
    value = "+" + digits
    if not _E164.match(value):
        raise ValueError(f"not a phone number in international format: {raw!r}")
    return value


class ContactIdentity(_Frozen):
    """Who wrote: exactly one normalized identity per kind, used to match or create the lead
    and as the thread's ``external_id`` (one thread per channel account and contact)."""

    kind: Literal["phone", "email", "platform"]
    value: str = Field(min_length=1, max_length=320)
    name: str | None = Field(None, max_length=200)

    @field_validator("value")
    @classmethod
    def _normalize(cls, v: str, info: Any) -> str:
        kind = info.data.get("kind")
        if kind == "phone":
            return e164(v)
        if kind == "email":
            v = v.strip().lower()
            if "@" not in v:
                raise ValueError("not an e-mail address")
        return v

    @classmethod
    def phone(cls, raw: str, name: str | None = None) -> ContactIdentity:
        return cls(kind="phone", value=raw, name=name)

    @classmethod
    def email(cls, raw: str, name: str | None = None) -> ContactIdentity:
        return cls(kind="email", value=raw, name=name)


class MediaRef(_Frozen):
    """A file the provider holds: its id (fetch it through the connector), never the bytes."""

    provider_media_id: str | None = Field(None, max_length=255)
    url: str | None = Field(None, max_length=2000)
    mime_type: str | None = Field(None, max_length=120)
    filename: str | None = Field(None, max_length=255)
    sha256: str | None = Field(None, max_length=128)
    caption: str | None = Field(None, max_length=4096)
    size_bytes: int | None = Field(None, ge=0)


ReferralSource = Literal["whatsapp_referral", "instagram_referral", "widget"]
ClickIdKind = Literal["fbclid", "gclid", "ttclid", "ctwa_clid", "wbraid", "gbraid"]
UTM_KEYS: tuple[str, ...] = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


class AdReferral(_Frozen):
    """Where a contact came from, as the channel told us (first touch; ``tools.ads.attribution``
    maps it to platform, campaign, ad set and ad and stores it once per lead).

    WhatsApp click-to-WhatsApp ads: the first message's ``referral`` (``source_id`` = the ad
    id when ``source_type`` is ``ad``, ``ctwa_clid``); Instagram click-to-Direct ads: the
    ``referral`` with ``ad_id``; the web-chat widget: the page's UTM fields and click id."""

    source: ReferralSource
    ad_id: str | None = Field(None, max_length=128)
    source_type: str | None = Field(None, max_length=40)
    source_url: str | None = Field(None, max_length=2000)
    headline: str | None = Field(None, max_length=500)
    ref: str | None = Field(None, max_length=500)
    click_id_kind: ClickIdKind | None = None
    click_id: str | None = Field(None, max_length=512)
    utm: dict[str, str] = Field(default_factory=dict)

    @field_validator("utm")
    @classmethod
    def _utm(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - set(UTM_KEYS))
        if unknown:
            raise ValueError(f"unknown UTM fields: {', '.join(unknown)}")
        if any(len(x) > 500 for x in v.values()):
            raise ValueError("UTM values are at most 500 characters")
        return {k: x for k, x in v.items() if x}


class InboundMessage(_Frozen):
    """One message a contact sent to one of the tenant's channel accounts."""

    provider: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    provider_message_id: str = Field(min_length=1, max_length=512)
    channel: Channel
    account_external_id: str = Field(min_length=1, max_length=255)  # e.g. WhatsApp phone_number_id
    contact: ContactIdentity
    type: ContentType
    text: str = Field("", max_length=65_536)  # the body, caption, button title, or a rendering
    media: tuple[MediaRef, ...] = ()
    sent_at: datetime  # the provider's timestamp (the customer's clock, as the provider saw it)
    reply_to: str | None = Field(None, max_length=512)  # provider id of the quoted message
    thread_hint: str | None = Field(None, max_length=998)  # e-mail References / In-Reply-To root
    extra: dict[str, Any] = Field(default_factory=dict)  # typed fields per type (location, reaction…)
    raw: dict[str, Any] = Field(default_factory=dict)  # the provider's item as received
    # The ad that brought the contact (click-to-WhatsApp / click-to-Direct / widget UTM);
    # added by the ads loop. A referral that could not be read is left out and its reason
    # put in ``extra["referral_error"]`` (logged by the inbox, never failing the message).
    referral: AdReferral | None = None


class StatusUpdate(_Frozen):
    """The provider's news about a message we sent (matched by ``provider_message_id``)."""

    provider: str = Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")
    provider_message_id: str = Field(min_length=1, max_length=512)
    account_external_id: str = Field(min_length=1, max_length=255)
    status: DeliveryStatus
    at: datetime
    recipient: str | None = Field(None, max_length=320)
    error_code: str | None = Field(None, max_length=40)
    error_title: str | None = Field(None, max_length=500)
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def event_key(self) -> str:
        return f"{self.provider_message_id}:{self.status}"


class TemplateRef(_Frozen):
    """An approved template (WhatsApp message templates): the path outside the reply window."""

    name: str = Field(min_length=1, max_length=512)
    language: str = Field("pt_BR", min_length=2, max_length=15)
    components: tuple[dict[str, Any], ...] = ()


class Button(_Frozen):
    id: str = Field(min_length=1, max_length=256)
    title: str = Field(min_length=1, max_length=20)


class OutboundPart(_Frozen):
    """One part of an answer: the unit of sending, retrying and delivery status.

    ``kind`` decides which fields count: text → ``text``; template → ``template``;
    interactive → ``text`` (the body) + ``buttons``; media → ``media`` (+ caption).
    """

    kind: Literal["text", "template", "interactive", "media"] = "text"
    text: str = Field("", max_length=4096)
    template: TemplateRef | None = None
    buttons: tuple[Button, ...] = Field((), max_length=3)
    media: MediaRef | None = None
    media_kind: Literal["image", "audio", "video", "document", "sticker"] | None = None
    reply_to: str | None = Field(None, max_length=512)
    # Who wrote it: channels with a human-only path (Instagram's HUMAN_AGENT tag, 7 days)
    # allow staff replies where Luddy's are refused. Added by the channels branch.
    sent_by: Literal["bot", "staff"] = "bot"
    # E-mail threading (channels branch): the subject and the References chain of the
    # message answered (``reply_to`` is its Message-ID); InboundMessage.extra carries both.
    subject: str | None = Field(None, max_length=998)
    references: tuple[str, ...] = Field((), max_length=50)


class InboundBatch(_Frozen):
    """Everything one verified webhook delivery carried, normalized."""

    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[StatusUpdate, ...] = ()


__all__ = [
    "CHANNELS",
    "UTM_KEYS",
    "AdReferral",
    "ClickIdKind",
    "ReferralSource",
    "STATUS_RANK",
    "Button",
    "Channel",
    "ContactIdentity",
    "ContentType",
    "DeliveryStatus",
    "InboundBatch",
    "InboundMessage",
    "MediaRef",
    "OutboundPart",
    "StatusUpdate",
    "TemplateRef",
    "e164",
]
