"""The WhatsApp Business Cloud API connector (outbound), over an injected ``httpx.AsyncClient``.

Verified from Meta's Cloud API docs ("Send messages", message object reference) and
public SDKs found through `search`: ``POST {base}/{version}/{phone-number-id}/messages``
with ``Authorization: Bearer <access token>`` and a JSON body ``{"messaging_product":
"whatsapp", "recipient_type": "individual", "to": <wa_id>, "type": …}`` where the type is
``text`` ``{"body", "preview_url"}``, ``template`` ``{"name", "language": {"code"},
"components"}``, ``interactive`` ``{"type": "button", "body": {"text"}, "action":
{"buttons": [{"type": "reply", "reply": {"id", "title"}}]}}`` (≤ 3 buttons, titles ≤ 20
characters) or a media type ``{"id" | "link", "caption", "filename"}``; a quoted reply
adds ``"context": {"message_id"}``. Success is 200 ``{"messaging_product", "contacts":
[{"input", "wa_id"}], "messages": [{"id": "wamid.…"}]}``; failures carry Meta's error object
(``tools.channels.meta.errors``).

The 24-hour customer-service window: free-form messages only within 24 h of the
customer's last message; outside it only approved templates (Meta answers 131047
otherwise). ``check_window`` refuses before Meta does, with the template path in the
error. Media size limits (Cloud API "Supported media types"): image 5 MB, audio/video
16 MB, sticker 500 KB, document 100 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from ..base import AccountView, SendResult, WindowState
from ..errors import ChannelSendError, MediaTooLarge, OutsideReplyWindow
from ..meta.errors import send_error
from ..models import Channel, OutboundPart

DEFAULT_BASE_URL = "https://graph.facebook.com"
WINDOW = timedelta(hours=24)
MEDIA_LIMITS = {
    "image": 5 * 1024 * 1024,
    "audio": 16 * 1024 * 1024,
    "video": 16 * 1024 * 1024,
    "sticker": 500 * 1024,
    "document": 100 * 1024 * 1024,
}


def message_body(recipient: str, part: OutboundPart) -> dict[str, Any]:
    """The JSON Meta expects for ``part`` sent to ``recipient`` (E.164 or digits)."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient.lstrip("+"),
    }
    if part.kind == "text":
        body |= {"type": "text", "text": {"preview_url": False, "body": part.text}}
    elif part.kind == "template":
        assert part.template is not None
        template: dict[str, Any] = {"name": part.template.name, "language": {"code": part.template.language}}
        if part.template.components:
            template["components"] = list(part.template.components)
        body |= {"type": "template", "template": template}
    elif part.kind == "interactive":
        buttons = [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in part.buttons]
        body |= {
            "type": "interactive",
            "interactive": {"type": "button", "body": {"text": part.text}, "action": {"buttons": buttons}},
        }
    else:
        assert part.media is not None and part.media_kind is not None
        media: dict[str, Any] = {}
        if part.media.provider_media_id:
            media["id"] = part.media.provider_media_id
        elif part.media.url:
            media["link"] = part.media.url
        if part.media.caption and part.media_kind != "audio":
            media["caption"] = part.media.caption
        if part.media.filename and part.media_kind == "document":
            media["filename"] = part.media.filename
        body |= {"type": part.media_kind, part.media_kind: media}
    if part.reply_to:
        body["context"] = {"message_id": part.reply_to}
    return body


class WhatsAppConnector:
    channel: Channel = "whatsapp"
    provider = "whatsapp_cloud"

    def __init__(self, http: httpx.AsyncClient, *, api_version: str = "v21.0") -> None:
        self._http = http
        self._version = api_version

    def check_window(self, part: OutboundPart, window: WindowState) -> None:
        if part.kind == "template":
            return
        last = window.last_inbound_at
        if last is None or window.now - last > WINDOW:
            raise OutsideReplyWindow(
                "WhatsApp allows free-form messages only within 24 hours of the customer's last message; "
                "send an approved template instead",
                details={
                    "last_inbound_at": last.isoformat() if last else None,
                    "window_hours": 24,
                    "alternative": "template",
                    "how": 'send {"kind": "template", "template": {"name": <approved template>, "language": "pt_BR"}}',
                },
            )

    def validate(self, part: OutboundPart) -> None:
        if part.kind == "template" and part.template is None:
            raise ValueError("a template part needs a template")
        if part.kind == "media":
            if part.media is None or part.media_kind is None:
                raise ValueError("a media part needs media and media_kind")
            limit = MEDIA_LIMITS[part.media_kind]
            if part.media.size_bytes is not None and part.media.size_bytes > limit:
                raise MediaTooLarge(
                    f"WhatsApp accepts {part.media_kind} files up to {limit // 1024} KB",
                    details={"size_bytes": part.media.size_bytes, "limit_bytes": limit, "kind": part.media_kind},
                )
        if part.kind == "interactive" and not 1 <= len(part.buttons) <= 3:
            raise ValueError("interactive buttons: 1 to 3")

    async def send(self, account: AccountView, recipient: str, part: OutboundPart) -> SendResult:
        self.validate(part)
        base = (account.base_url or DEFAULT_BASE_URL).rstrip("/")
        version = str(account.config.get("api_version") or self._version)
        url = f"{base}/{version}/{account.external_id}/messages"
        headers = {"Authorization": f"Bearer {account.secret('access_token')}"}
        try:
            response = await self._http.post(url, json=message_body(recipient, part), headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Never reached Meta: safe to retry.
            raise ChannelSendError(f"WhatsApp unreachable: {type(exc).__name__}", retriable=True) from exc
        except httpx.TransportError as exc:
            # Sent but no answer: Meta has no idempotency key, a retry could deliver twice.
            raise ChannelSendError(
                f"WhatsApp outcome unknown ({type(exc).__name__}); not retried to avoid a duplicate",
                retriable=False,
                provider_code="outcome_unknown",
            ) from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code != 200:
            raise send_error(response.status_code, data, response.headers.get("retry-after"))
        try:
            wamid = str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise ChannelSendError(
                "WhatsApp answered 200 without a message id", retriable=False, provider_code="bad_response"
            ) from None
        return SendResult(provider_message_id=wamid, raw=data if isinstance(data, dict) else {})


__all__ = ["DEFAULT_BASE_URL", "MEDIA_LIMITS", "WINDOW", "WhatsAppConnector", "message_body"]
