"""The Instagram send API over an injected ``httpx.AsyncClient``, and the inbox connector.

Verified (developers.facebook.com "Send Messages", Instagram API with Instagram Login, and
Meta's Instagram Platform Postman collection): ``POST https://graph.instagram.com/{version}/
{ig-user-id}/messages`` (``/me/messages`` is the same edge for the token's own account)
with ``Authorization: Bearer <Instagram user access token>`` and a JSON body
``{"recipient": {"id": IGSID}, "message": {"text": ...}}`` or ``{"message": {"attachment":
{"type": "image"|"video"|"audio", "payload": {"url": ...}}}}``; the answer is
``{"recipient_id", "message_id"}``. Text must be under 1000 characters; media limits: image
(png/jpeg/gif) 8 MB, audio and video 25 MB, images only by URL. Failures are Meta's error
object (``tools.channels.meta.errors``); on the Messenger Platform codes 4 and 613 are rate
limits, 1/2 transient, 190 an invalid token, 10 / subcode 2018278 "sent outside of allowed
window", 551 "this person isn't available right now".
Assumed: ``messaging_type``/``tag`` are accepted on this edge as on the Messenger Send API
(Meta's Instagram docs describe the HUMAN_AGENT tag with them); 613's retry-after is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ..base import AccountView, SendResult, WindowState
from ..errors import ChannelSendError, MediaTooLarge
from ..meta import parse_meta_error
from ..models import Channel, OutboundPart
from .errors import InstagramMessageRejected
from .window import SendMode, send_mode

DEFAULT_BASE_URL = "https://graph.instagram.com"
DEFAULT_VERSION = "v23.0"
PROVIDER = "instagram"
MAX_TEXT_CHARS = 1000
MEDIA_LIMITS = {"image": 8 * 1024 * 1024, "video": 25 * 1024 * 1024, "audio": 25 * 1024 * 1024}
RATE_LIMIT_CODES = frozenset({4, 613})
TRANSIENT_CODES = frozenset({1, 2})
OUTSIDE_WINDOW = (10, 2018278)


@dataclass(frozen=True, slots=True)
class InstagramAccount:
    ig_user_id: str
    access_token: str
    base_url: str = DEFAULT_BASE_URL
    version: str = DEFAULT_VERSION

    @classmethod
    def of(cls, account: AccountView) -> InstagramAccount:
        return cls(
            ig_user_id=account.external_id,
            access_token=account.secret("access_token"),
            base_url=account.base_url or DEFAULT_BASE_URL,
            version=str(account.config.get("api_version") or DEFAULT_VERSION),
        )


@dataclass(frozen=True, slots=True)
class SentMessage:
    recipient_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    type: str  # image | video | audio
    url: str
    size_bytes: int | None = None  # when known, checked against Meta's limits before sending


def check_text(text: str) -> None:
    if not text.strip():
        raise InstagramMessageRejected("an Instagram message needs text")
    if len(text) >= MAX_TEXT_CHARS:
        raise InstagramMessageRejected(
            f"Instagram messages must be under {MAX_TEXT_CHARS} characters",
            details={"length": len(text), "limit": MAX_TEXT_CHARS - 1},
        )


def check_media(media: OutboundMedia) -> None:
    limit = MEDIA_LIMITS.get(media.type)
    if limit is None:
        raise InstagramMessageRejected(f"Instagram cannot send {media.type!r} attachments")
    if media.size_bytes is not None and media.size_bytes > limit:
        raise MediaTooLarge(
            f"{media.type} too large for Instagram ({media.size_bytes} bytes, limit {limit})",
            details={"size_bytes": media.size_bytes, "limit_bytes": limit},
        )


def send_error(status: int, body: Any) -> ChannelSendError:
    meta = parse_meta_error(body)
    if meta is None:
        return ChannelSendError(
            f"Instagram answered HTTP {status} without an error object",
            retriable=status >= 500 or status == 429,
            http_status=status,
        )
    outside = (meta.code, meta.subcode) == OUTSIDE_WINDOW
    retriable = not outside and (meta.code in RATE_LIMIT_CODES or meta.code in TRANSIENT_CODES or status >= 500)
    return ChannelSendError(
        f"Instagram refused the message: ({meta.code}) {meta.message}",
        retriable=retriable,
        provider_code=str(meta.code),
        http_status=status,
        details=meta.as_dict(),
    )


class InstagramClient:
    """Sends messages for one account; one shared ``httpx.AsyncClient`` for all accounts."""

    def __init__(self, http: httpx.AsyncClient, account: InstagramAccount):
        self._http = http
        self._account = account

    async def send_text(
        self,
        recipient_id: str,
        text: str,
        *,
        last_customer_message_at: datetime | None,
        now: datetime,
        by_human: bool = False,
    ) -> SentMessage:
        """Send ``text``; refuses (without calling Meta) what Instagram would reject."""
        check_text(text)
        mode = send_mode(last_customer_message_at, now, by_human=by_human)
        return await self.post(recipient_id, {"text": text}, mode)

    async def send_media(
        self,
        recipient_id: str,
        media: OutboundMedia,
        *,
        last_customer_message_at: datetime | None,
        now: datetime,
        by_human: bool = False,
    ) -> SentMessage:
        check_media(media)
        mode = send_mode(last_customer_message_at, now, by_human=by_human)
        return await self.post(recipient_id, {"attachment": {"type": media.type, "payload": {"url": media.url}}}, mode)

    async def post(self, recipient_id: str, message: dict[str, Any], mode: SendMode) -> SentMessage:
        acc = self._account
        body: dict[str, Any] = {"recipient": {"id": recipient_id}, "message": message}
        body["messaging_type"] = mode.messaging_type
        if mode.tag:
            body["tag"] = mode.tag
        url = f"{acc.base_url.rstrip('/')}/{acc.version}/{acc.ig_user_id}/messages"
        try:
            resp = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {acc.access_token}"})
        except httpx.HTTPError as exc:
            # Unknown outcome on a timeout: the delivery loop retries under its idempotency key.
            raise ChannelSendError(f"Instagram unreachable: {type(exc).__name__}", retriable=True) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code != 200 or not isinstance(data, dict) or "message_id" not in data:
            raise send_error(resp.status_code, data)
        return SentMessage(str(data.get("recipient_id") or recipient_id), str(data["message_id"]))


def _media_of(part: OutboundPart) -> OutboundMedia:
    if part.media is None or not part.media.url:
        raise InstagramMessageRejected("Instagram sends media by URL only")
    kind = part.media_kind or "image"
    return OutboundMedia(kind, part.media.url, part.media.size_bytes)


class InstagramConnector:
    """``ChannelConnector`` for Instagram (tools.channels.base). A person's reply
    (``part.sent_by == "staff"``) may use the 7-day HUMAN_AGENT window; Luddy has 24 hours."""

    channel: Channel = "instagram"
    provider = PROVIDER

    def __init__(self, http: httpx.AsyncClient):
        self._http = http

    def validate(self, part: OutboundPart) -> None:
        """What Instagram cannot carry: 1000+ characters, templates, oversized media."""
        if part.kind == "text":
            check_text(part.text)
        elif part.kind == "media":
            check_media(_media_of(part))
        elif part.kind == "interactive":
            check_text(part.text)
        else:
            raise InstagramMessageRejected(
                "Instagram has no message templates: answer with text inside the window",
                details={"kind": part.kind},
            )

    def _mode(self, part: OutboundPart, window: WindowState) -> SendMode:
        self.validate(part)
        return send_mode(window.last_inbound_at, window.now, by_human=part.sent_by == "staff")

    def check_window(self, part: OutboundPart, window: WindowState) -> None:
        self._mode(part, window)

    async def send(
        self, account: AccountView, recipient: str, part: OutboundPart, window: WindowState | None = None
    ) -> SendResult:
        # The core checked the window before; without one here we send as a reply (RESPONSE),
        # or HUMAN_AGENT for staff, and Meta's own check (10/2018278) is the backstop.
        if window is not None:
            mode = self._mode(part, window)
        else:
            mode = SendMode("MESSAGE_TAG", "HUMAN_AGENT") if part.sent_by == "staff" else SendMode("RESPONSE")
        client = InstagramClient(self._http, InstagramAccount.of(account))
        if part.kind == "media":
            media = _media_of(part)
            message: dict[str, Any] = {"attachment": {"type": media.type, "payload": {"url": media.url}}}
        else:
            message = {"text": part.text}
        sent = await client.post(recipient, message, mode)
        return SendResult(sent.message_id, {"recipient_id": sent.recipient_id})


__all__ = [
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "InstagramAccount",
    "InstagramClient",
    "InstagramConnector",
    "OutboundMedia",
    "SentMessage",
    "send_error",
]
