"""Parsing Instagram messaging webhooks (``object: instagram``) into plain events.

Verified (developers.facebook.com "Webhooks for Instagram Messaging" and "Instagram Platform
Webhook Notification Examples"): the body is ``{"object": "instagram", "entry": [{"id":
<IG professional account id>, "time": ms, "messaging": [...]}]}``; each messaging item has
``sender.id`` (the customer's Instagram-scoped id, IGSID), ``recipient.id``, ``timestamp``
(ms) and one of ``message`` (``mid``, ``text``, ``attachments[{type, payload.url}]``,
``is_echo`` when our own account sent it - Instagram has no separate echo field,
``is_deleted``, ``is_unsupported``, ``reply_to.mid``, ``quick_reply.payload``),
``reaction`` (``mid``, ``action`` react|unreact, ``reaction``, ``emoji``) or ``read``
(``mid``; Instagram's ``messaging_seen`` field). Echo notifications carry our account as
``sender``. A message from a click-to-Direct ad keeps its ``referral`` (read, never failing
the message, by ``tools.channels.referral``). Other items (postbacks, referrals of existing
threads without a message, comments in ``changes``) are skipped, not errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import MalformedInstagramWebhook

MAX_TEXT = 20_000  # far above Instagram's 1000-character messages; longer is not Instagram


@dataclass(frozen=True, slots=True)
class Attachment:
    type: str  # image | video | audio | file | share | story_mention | ig_reel | ...
    url: str | None


@dataclass(frozen=True, slots=True)
class InstagramMessage:
    account_id: str  # our Instagram professional account (entry.id)
    customer_id: str  # the IGSID of the customer (the recipient on echoes)
    mid: str
    timestamp_ms: int
    text: str | None
    attachments: tuple[Attachment, ...] = ()
    is_echo: bool = False
    is_deleted: bool = False
    reply_to_mid: str | None = None
    referral: Any = None  # the raw ``referral`` of a click-to-Direct ad (tools.channels.referral)


@dataclass(frozen=True, slots=True)
class InstagramReaction:
    account_id: str
    customer_id: str
    mid: str  # the message reacted to
    timestamp_ms: int
    action: str  # react | unreact
    reaction: str | None
    emoji: str | None


@dataclass(frozen=True, slots=True)
class InstagramRead:
    account_id: str
    customer_id: str
    mid: str  # the last message of ours the customer has seen
    timestamp_ms: int


InstagramEvent = InstagramMessage | InstagramReaction | InstagramRead


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    account_ids: tuple[str, ...]
    events: tuple[InstagramEvent, ...] = field(default=())
    skipped: int = 0


def _str(d: Any, key: str) -> str | None:
    v = d.get(key) if isinstance(d, dict) else None
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    return v if isinstance(v, str) and 0 < len(v) <= 512 else None


def _id(d: Any, key: str) -> str | None:
    return _str(d.get(key), "id") if isinstance(d, dict) else None


def load_body(body: bytes) -> dict[str, Any]:
    if b"\\u0000" in body:
        raise MalformedInstagramWebhook("the body contains NUL characters")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedInstagramWebhook("the body is not JSON") from None
    if not isinstance(data, dict) or data.get("object") != "instagram":
        raise MalformedInstagramWebhook('not an Instagram webhook (expected "object": "instagram")')
    if not isinstance(data.get("entry"), list) or not data["entry"]:
        raise MalformedInstagramWebhook("entry must be a non-empty list")
    return data


def account_ids(data: dict[str, Any]) -> tuple[str, ...]:
    """The Instagram accounts an (already loaded) webhook is about: which secret to check."""
    ids = []
    for entry in data["entry"]:
        acc = _str(entry, "id")
        if acc is None:
            raise MalformedInstagramWebhook("entry.id is missing")
        ids.append(acc)
    return tuple(dict.fromkeys(ids))


def _message(acc: str, sender: str, recipient: str, ts: int, msg: dict[str, Any]) -> InstagramMessage:
    mid = _str(msg, "mid")
    if mid is None:
        raise MalformedInstagramWebhook("message.mid is missing")
    text = msg.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
        raise MalformedInstagramWebhook("message.text is not a string of at most 20000 characters")
    atts = []
    raw_atts = msg.get("attachments") or []
    if not isinstance(raw_atts, list):
        raise MalformedInstagramWebhook("message.attachments must be a list")
    for a in raw_atts:
        if not isinstance(a, dict) or not isinstance(a.get("type"), str):
            raise MalformedInstagramWebhook("each attachment needs a type")
        atts.append(Attachment(a["type"], _str(a.get("payload") or {}, "url")))
    is_echo = msg.get("is_echo") is True
    reply_to = msg.get("reply_to")
    return InstagramMessage(
        account_id=acc,
        customer_id=recipient if is_echo else sender,
        mid=mid,
        timestamp_ms=ts,
        text=text,
        attachments=tuple(atts),
        is_echo=is_echo,
        is_deleted=msg.get("is_deleted") is True,
        reply_to_mid=_str(reply_to, "mid") if isinstance(reply_to, dict) else None,
    )


def _with_referral(ev: InstagramMessage, item: dict[str, Any]) -> InstagramMessage:
    raw = item.get("referral")
    if raw is None and isinstance(item.get("message"), dict):
        raw = item["message"].get("referral")
    if raw is None:
        return ev
    return replace(ev, referral=raw)


def _item(acc: str, item: Any) -> InstagramEvent | None:
    if not isinstance(item, dict):
        raise MalformedInstagramWebhook("messaging items must be objects")
    sender, recipient = _id(item, "sender"), _id(item, "recipient")
    ts = item.get("timestamp")
    if sender is None or recipient is None or not isinstance(ts, int) or isinstance(ts, bool):
        raise MalformedInstagramWebhook("messaging items need sender.id, recipient.id and an integer timestamp")
    if isinstance(item.get("message"), dict):
        return _with_referral(_message(acc, sender, recipient, ts, item["message"]), item)
    if isinstance(item.get("reaction"), dict):
        r = item["reaction"]
        mid = _str(r, "mid")
        if mid is None:
            raise MalformedInstagramWebhook("reaction.mid is missing")
        return InstagramReaction(
            acc, sender, mid, ts, _str(r, "action") or "react", _str(r, "reaction"), _str(r, "emoji")
        )
    if isinstance(item.get("read"), dict):
        mid = _str(item["read"], "mid")
        if mid is None:
            raise MalformedInstagramWebhook("read.mid is missing")
        return InstagramRead(acc, sender, mid, ts)
    return None  # postbacks, referrals, optins...: not inbox messages


def parse_webhook(body: bytes) -> ParsedWebhook:
    """Every message, reaction and read in a webhook body; MalformedInstagramWebhook if the
    envelope or an item we would act on is broken (nothing half-parsed is returned)."""
    data = load_body(body)
    accs = account_ids(data)
    events: list[InstagramEvent] = []
    skipped = 0
    for entry in data["entry"]:
        items = entry.get("messaging")
        if items is None:
            skipped += 1  # e.g. comments arrive as entry.changes
            continue
        if not isinstance(items, list):
            raise MalformedInstagramWebhook("entry.messaging must be a list")
        for item in items:
            ev = _item(str(entry["id"]), item)
            if ev is None:
                skipped += 1
            else:
                events.append(ev)
    return ParsedWebhook(accs, tuple(events), skipped)


__all__ = [
    "Attachment",
    "InstagramEvent",
    "InstagramMessage",
    "InstagramRead",
    "InstagramReaction",
    "ParsedWebhook",
    "account_ids",
    "load_body",
    "parse_webhook",
]
