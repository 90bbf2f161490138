"""The Instagram send API over an injected ``httpx.AsyncClient``.

Verified (developers.facebook.com "Send Messages", Instagram API with Instagram Login, and
Meta's Instagram Platform Postman collection): ``POST https://graph.instagram.com/{version}/
{ig-user-id}/messages`` (``/me/messages`` is the same edge for the token's own account)
with ``Authorization: Bearer <Instagram user access token>`` and a JSON body
``{"recipient": {"id": IGSID}, "message": {"text": ...}}`` or ``{"message": {"attachment":
{"type": "image"|"video"|"audio", "payload": {"url": ...}}}}``; the answer is
``{"recipient_id", "message_id"}``. Media limits: image png/jpeg/gif 8 MB, audio and video
25 MB; images only by URL. Errors are Meta's error object (``tools.channels.meta.errors``).
Assumed: ``messaging_type``/``tag`` are accepted on this edge as on the Messenger Send API
(Meta's Instagram docs describe HUMAN_AGENT with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ..meta import parse_graph_error
from ..meta.errors import GraphError
from .errors import InstagramMessageRejected, InstagramSendFailed
from .window import send_mode

DEFAULT_BASE_URL = "https://graph.instagram.com"
DEFAULT_VERSION = "v23.0"
MAX_TEXT_CHARS = 1000
MEDIA_LIMITS = {"image": 8 * 1024 * 1024, "video": 25 * 1024 * 1024, "audio": 25 * 1024 * 1024}


@dataclass(frozen=True, slots=True)
class InstagramAccount:
    ig_user_id: str
    access_token: str
    base_url: str = DEFAULT_BASE_URL
    version: str = DEFAULT_VERSION


@dataclass(frozen=True, slots=True)
class SentMessage:
    recipient_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class OutboundMedia:
    type: str  # image | video | audio
    url: str
    size_bytes: int | None = None  # when known, checked against Meta's limits before sending


class InstagramClient:
    """Sends messages for one account; one shared ``httpx.AsyncClient`` for all accounts."""

    def __init__(self, http: httpx.AsyncClient, account: InstagramAccount):
        self._http = http
        self._account = account

    @property
    def account(self) -> InstagramAccount:
        return self._account

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
        if not text.strip():
            raise InstagramMessageRejected("an Instagram message needs text")
        if len(text) >= MAX_TEXT_CHARS:
            raise InstagramMessageRejected(
                f"Instagram messages must be under {MAX_TEXT_CHARS} characters",
                details={"length": len(text), "limit": MAX_TEXT_CHARS - 1},
            )
        mode = send_mode(last_customer_message_at, now, by_human=by_human)
        return await self._post(recipient_id, {"text": text}, mode.messaging_type, mode.tag)

    async def send_media(
        self,
        recipient_id: str,
        media: OutboundMedia,
        *,
        last_customer_message_at: datetime | None,
        now: datetime,
        by_human: bool = False,
    ) -> SentMessage:
        limit = MEDIA_LIMITS.get(media.type)
        if limit is None:
            raise InstagramMessageRejected(f"Instagram cannot send {media.type!r} attachments")
        if media.size_bytes is not None and media.size_bytes > limit:
            raise InstagramMessageRejected(
                f"{media.type} too large for Instagram ({media.size_bytes} bytes, limit {limit})",
                details={"size_bytes": media.size_bytes, "limit_bytes": limit},
            )
        mode = send_mode(last_customer_message_at, now, by_human=by_human)
        message = {"attachment": {"type": media.type, "payload": {"url": media.url}}}
        return await self._post(recipient_id, message, mode.messaging_type, mode.tag)

    async def _post(
        self, recipient_id: str, message: dict[str, Any], messaging_type: str, tag: str | None
    ) -> SentMessage:
        acc = self._account
        body: dict[str, Any] = {"recipient": {"id": recipient_id}, "message": message, "messaging_type": messaging_type}
        if tag:
            body["tag"] = tag
        url = f"{acc.base_url.rstrip('/')}/{acc.version}/{acc.ig_user_id}/messages"
        try:
            resp = await self._http.post(url, json=body, headers={"Authorization": f"Bearer {acc.access_token}"})
        except httpx.HTTPError as exc:
            # Unknown outcome on a timeout; the caller retries under its idempotency key.
            raise InstagramSendFailed(
                GraphError(0, 2, None, f"network error: {type(exc).__name__}", "", None)
            ) from None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code != 200 or not isinstance(data, dict) or "message_id" not in data:
            raise InstagramSendFailed(parse_graph_error(resp.status_code, data))
        return SentMessage(str(data.get("recipient_id") or recipient_id), str(data["message_id"]))


__all__ = ["DEFAULT_BASE_URL", "InstagramAccount", "InstagramClient", "OutboundMedia", "SentMessage"]
