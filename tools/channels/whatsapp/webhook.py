"""WhatsApp Cloud API webhooks → normalized ``InboundBatch``.

Verified from Meta's public docs and SDK references found through `search` (WhatsApp
Cloud API "Webhooks" reference, whatsapp.github.io Node SDK, several SDK type
definitions): the POST body is ``{"object": "whatsapp_business_account", "entry": [{"id":
<WABA id>, "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
"metadata": {"display_phone_number", "phone_number_id"}, "contacts": [{"profile":
{"name"}, "wa_id"}], "messages": [...], "statuses": [...]}}]}]}``. A message has ``from``
(the wa_id, digits of the E.164 number), ``id`` (``wamid.…``), ``timestamp`` (Unix seconds
as a string), ``type`` and an object of that type: ``text.body``; ``image|audio|video|
document|sticker`` with ``id``, ``mime_type``, ``sha256``, ``caption``, ``filename``;
``interactive`` with ``button_reply``/``list_reply`` ``{id, title}``; ``button`` (template
quick reply) ``{payload, text}``; ``location`` ``{latitude, longitude, name, address}``;
``reaction`` ``{message_id, emoji}``; ``contacts``; ``context.id`` for a quoted message.
A status has ``id`` (the wamid we sent), ``status`` (sent|delivered|read|failed),
``timestamp``, ``recipient_id`` and, when failed, ``errors[{code, title, message,
error_data.details}]``.

A message from a click-to-WhatsApp ad also has ``referral`` (read by
``tools.channels.referral``, which documents its fields).

Assumed: unknown message types are kept as ``unsupported`` with the raw item; the
``deleted`` status (older API versions) is ignored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from ..errors import MalformedWebhook
from ..models import ContactIdentity, InboundBatch, InboundMessage, MediaRef, StatusUpdate
from ..referral import REFERRAL_ERROR, read_referral, whatsapp_referral

PROVIDER = "whatsapp_cloud"
OBJECT = "whatsapp_business_account"
_MEDIA = ("image", "audio", "video", "document", "sticker")
_STATUSES = ("sent", "delivered", "read", "failed")


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedWebhook(f"{where} is not an object", details={"field": where})
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise MalformedWebhook(f"{where} is not a list", details={"field": where})
    return value


def _ts(value: Any, where: str) -> datetime:
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise MalformedWebhook(f"{where} is not a Unix timestamp", details={"field": where}) from None


def _content(msg: dict[str, Any]) -> tuple[str, str, tuple[MediaRef, ...], dict[str, Any]]:
    """(type, text, media, extra) of one message item."""
    kind = str(msg.get("type") or "")
    found = msg.get(kind)
    body: dict[str, Any] = found if isinstance(found, dict) else {}
    if kind == "text":
        return "text", str(body.get("body") or ""), (), {}
    if kind in _MEDIA:
        ref = MediaRef(
            provider_media_id=str(body.get("id")) if body.get("id") else None,
            mime_type=body.get("mime_type"),
            sha256=body.get("sha256"),
            caption=body.get("caption"),
            filename=body.get("filename"),
        )
        return kind, str(body.get("caption") or ""), (ref,), {}
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return "interactive", str(reply.get("title") or ""), (), {"reply_id": reply.get("id"), "kind": body.get("type")}
    if kind == "button":
        return "button", str(body.get("text") or ""), (), {"payload": body.get("payload")}
    if kind == "location":
        text = " ".join(str(body[k]) for k in ("name", "address") if body.get(k))
        extra = {k: body.get(k) for k in ("latitude", "longitude", "name", "address", "url")}
        return "location", text, (), extra
    if kind == "reaction":
        return "reaction", str(body.get("emoji") or ""), (), {"message_id": body.get("message_id")}
    if kind == "contacts":
        return "contacts", "", (), {"contacts": msg.get("contacts")}
    return "unsupported", "", (), {"type": kind}


def parse_webhook(body: bytes) -> InboundBatch:
    """The normalized batch of one POST body; ``MalformedWebhook`` when it is not one."""
    if b"\\u0000" in body:
        raise MalformedWebhook("the body contains NUL characters")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedWebhook("the body is not JSON") from None
    data = _obj(data, "body")
    if data.get("object") != OBJECT:
        raise MalformedWebhook(f"object is not {OBJECT}", details={"field": "object"})
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    try:
        for i, entry in enumerate(_list(data.get("entry"), "entry")):
            changes = _list(_obj(entry, f"entry[{i}]").get("changes"), f"entry[{i}].changes")
            for j, raw_change in enumerate(changes):
                where = f"entry[{i}].changes[{j}]"
                change = _obj(raw_change, where)
                if change.get("field") != "messages":
                    continue  # account/template updates: not the inbox's business
                value = _obj(change.get("value"), f"{where}.value")
                phone_id = _obj(value.get("metadata"), f"{where}.value.metadata").get("phone_number_id")
                if not isinstance(phone_id, str) or not phone_id:
                    raise MalformedWebhook("metadata.phone_number_id is missing", details={"field": f"{where}.value"})
                names = {
                    str(c.get("wa_id")): (c.get("profile") or {}).get("name")
                    for c in _list(value.get("contacts"), f"{where}.value.contacts")
                    if isinstance(c, dict)
                }
                for k, raw in enumerate(_list(value.get("messages"), f"{where}.value.messages")):
                    msg = _obj(raw, f"{where}.value.messages[{k}]")
                    kind, text, media, extra = _content(msg)
                    sender = str(msg.get("from") or "")
                    # Click-to-WhatsApp ads (tools.channels.referral): a bad referral never
                    # fails the message; its reason is logged by the inbox.
                    referral, referral_error = read_referral(msg.get("referral"), whatsapp_referral)
                    if referral_error:
                        extra = {**extra, REFERRAL_ERROR: referral_error}
                    messages.append(
                        InboundMessage(
                            provider=PROVIDER,
                            provider_message_id=str(msg.get("id") or ""),
                            channel="whatsapp",
                            account_external_id=phone_id,
                            contact=ContactIdentity.phone(sender, names.get(sender)),
                            type=kind,
                            text=text,
                            media=media,
                            sent_at=_ts(msg.get("timestamp"), f"{where}.value.messages[{k}].timestamp"),
                            reply_to=(msg.get("context") or {}).get("id"),
                            extra=extra,
                            raw=msg,
                            referral=referral,
                        )
                    )
                for k, raw in enumerate(_list(value.get("statuses"), f"{where}.value.statuses")):
                    st = _obj(raw, f"{where}.value.statuses[{k}]")
                    if st.get("status") not in _STATUSES:
                        continue
                    errors = [e for e in _list(st.get("errors"), "errors") if isinstance(e, dict)]
                    first = errors[0] if errors else {}
                    statuses.append(
                        StatusUpdate(
                            provider=PROVIDER,
                            provider_message_id=str(st.get("id") or ""),
                            account_external_id=phone_id,
                            status=st["status"],
                            at=_ts(st.get("timestamp"), f"{where}.value.statuses[{k}].timestamp"),
                            recipient=str(st["recipient_id"]) if st.get("recipient_id") else None,
                            error_code=str(first["code"]) if first.get("code") is not None else None,
                            error_title=str(first.get("title") or first.get("message") or "")[:500] or None,
                            raw=st,
                        )
                    )
    except ValidationError as exc:
        first_error = exc.errors()[0]
        raise MalformedWebhook(
            "a message or status is not valid",
            details={"field": ".".join(str(p) for p in first_error["loc"]), "msg": first_error["msg"]},
        ) from None
    return InboundBatch(messages=tuple(messages), statuses=tuple(statuses))


__all__ = ["OBJECT", "PROVIDER", "parse_webhook"]
