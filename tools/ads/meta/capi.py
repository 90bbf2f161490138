"""Meta Conversions API (CAPI): normalising, hashing and building server events.

``POST /{api_version}/{pixel_id}/events`` with ``{"data": [event, …], "test_event_code"?}``
(≤ 1000 events a request); Meta answers ``{"events_received", "messages", "fbtrace_id"}``.

Verified (sources in ``tools.ads.meta.sandbox``'s module doc):

* normalisation before SHA-256 (facebook/facebook-python-business-sdk
  ``facebook_business/adobjects/serverside/normalize.py``): every value trimmed and
  lower-cased; e-mail must then look like an address; phone: spaces, dashes and
  parentheses removed, a leading ``+`` and up to two leading zeros dropped, digits only
  *with the country code*; already-hashed values (64 hex) are passed through;
* hashes are lower-case hex SHA-256, sent as arrays (``em: [..]``, ``ph: [..]``);
* ``action_source`` values (SDK ``serverside/action_source.py``): ``email``, ``website``,
  ``app``, ``phone_call``, ``chat``, ``physical_store``, ``system_generated``, ``other``;
  plus ``business_messaging`` for CAPI for Business Messaging;
* ``fbc`` is ``fb.1.<creation time, ms>.<fbclid>`` (Meta's example
  ``fb.1.1554763741205.AbCdEf…`` in its docs and SDK samples);
* click-to-WhatsApp: ``action_source: "business_messaging"``, ``messaging_channel:
  "whatsapp"``, ``user_data: {whatsapp_business_account_id, ctwa_clid}`` (Meta's "Conversions
  API for Business Messaging" guide and partner docs that forward to it: Gupshup, AWS End
  User Messaging Social); for business messaging the lead event is ``LeadSubmitted`` — a
  plain ``Lead`` is refused with subcode 2804066 (Zernio's API docs, "live-verified").
* dedupe: the same ``event_name`` + ``event_id`` from the same pixel within 48 hours counts
  once (Meta "Handling duplicate events", quoted in the Aliyun CAMS API reference).

Assumed: ``external_id`` hashed like the others (Meta accepts hashed or clear and
recommends hashing); a Brazilian national number (10 to 11 digits, no ``+``) gets the account's
default country code (``55``); the fbc creation time is the conversion's own time when the
click's capture time is unknown; events without a click id go as ``system_generated`` (the
payment/deal was confirmed by our server), overridable with the account's
``config.capi_action_source``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from ..models import ConversionEvent
from .money import minor_to_decimal

_HASHED = re.compile(r"^[a-f0-9]{64}$")
_EMAIL = re.compile(r"^[a-z0-9_.+\-]+@[a-z0-9\-]+\.[a-z0-9\-.]+$")
EVENT_NAMES = {"purchase": "Purchase", "lead": "Lead"}
BUSINESS_MESSAGING_EVENT_NAMES = {"purchase": "Purchase", "lead": "LeadSubmitted"}
MAX_EVENTS_PER_REQUEST = 1000


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def is_hashed(value: str) -> bool:
    return bool(_HASHED.match(value))


def normalize_email(raw: str | None) -> str | None:
    if not raw:
        return None
    value = raw.strip().lower()
    if is_hashed(value):
        return value
    return value if _EMAIL.match(value) else None


def normalize_phone(raw: str | None, default_country_code: str | None = "55") -> str | None:
    """Digits only, with the country code (``+55 (11) 99999-0000`` → ``5511999990000``)."""
    if not raw:
        return None
    value = raw.strip().lower()
    if is_hashed(value):
        return value
    international = value.startswith("+") or value.startswith("00")
    value = re.sub(r"[\s\-().]", "", value)
    value = re.sub(r"^\+?0{0,2}", "", value)
    if not value.isdigit():
        return None
    if not international and default_country_code and len(value) in (10, 11) and not value.startswith("0"):
        value = default_country_code + value
    return value if 7 <= len(value) <= 15 else None


def hash_email(raw: str | None) -> str | None:
    value = normalize_email(raw)
    return None if value is None else value if is_hashed(value) else sha256_hex(value)


def hash_phone(raw: str | None, default_country_code: str | None = "55") -> str | None:
    value = normalize_phone(raw, default_country_code)
    return None if value is None else value if is_hashed(value) else sha256_hex(value)


def hash_external_id(raw: str | None) -> str | None:
    if not raw or not raw.strip():
        return None
    value = raw.strip()
    return value.lower() if is_hashed(value.lower()) else sha256_hex(value)


def fbc_from_fbclid(fbclid: str, creation_time_ms: int) -> str:
    """The ``_fbc`` value Meta's pixel would have set: ``fb.1.<ms>.<fbclid>``."""
    if fbclid.startswith("fb."):
        return fbclid  # already an fbc value
    return f"fb.1.{creation_time_ms}.{fbclid}"


def server_event(
    event: ConversionEvent,
    *,
    waba_id: str | None = None,
    default_action_source: str = "system_generated",
    default_country_code: str | None = "55",
) -> dict[str, Any]:
    """One CAPI server event for ``event``: identifiers hashed, money in currency units."""
    user: dict[str, Any] = {}
    if (em := hash_email(event.email)) is not None:
        user["em"] = [em]
    if (ph := hash_phone(event.phone, default_country_code)) is not None:
        user["ph"] = [ph]
    if (xid := hash_external_id(event.external_id)) is not None:
        user["external_id"] = [xid]
    body: dict[str, Any] = {
        "event_time": int(event.occurred_at.timestamp()),
        "event_id": event.event_id,
    }
    if event.click_id_kind == "ctwa_clid" and event.click_id and waba_id:
        body["event_name"] = BUSINESS_MESSAGING_EVENT_NAMES[event.kind]
        body["action_source"] = "business_messaging"
        body["messaging_channel"] = "whatsapp"
        user["ctwa_clid"] = event.click_id
        user["whatsapp_business_account_id"] = waba_id
    else:
        body["event_name"] = EVENT_NAMES[event.kind]
        body["action_source"] = default_action_source
        if event.click_id_kind == "fbclid" and event.click_id:
            user["fbc"] = fbc_from_fbclid(event.click_id, int(event.occurred_at.timestamp() * 1000))
        if event.source_url and default_action_source == "website":
            body["event_source_url"] = event.source_url
    body["user_data"] = user
    if event.kind == "purchase" or event.value_minor:
        body["custom_data"] = {
            "value": float(minor_to_decimal(event.value_minor, event.currency)),
            "currency": event.currency,
        }
    return body


def has_identifier(body: dict[str, Any]) -> bool:
    user = body.get("user_data") or {}
    return any(user.get(k) for k in ("em", "ph", "external_id", "fbc", "ctwa_clid"))


__all__ = [
    "BUSINESS_MESSAGING_EVENT_NAMES",
    "EVENT_NAMES",
    "MAX_EVENTS_PER_REQUEST",
    "fbc_from_fbclid",
    "has_identifier",
    "hash_email",
    "hash_external_id",
    "hash_phone",
    "is_hashed",
    "normalize_email",
    "normalize_phone",
    "server_event",
    "sha256_hex",
]
