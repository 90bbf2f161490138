"""Reading ad referrals out of channel webhooks (``AdReferral``), never failing the message.

Verified (developers.facebook.com WhatsApp Cloud API "Text messages webhook reference", and
the Messenger Platform "messaging_referrals" reference that Instagram messaging shares):

* WhatsApp: a message sent through a click-to-WhatsApp ad carries ``referral`` with
  ``source_url``, ``source_id`` (the ad id), ``source_type`` (``ad`` or ``post``), ``body``,
  ``headline``, ``media_type``, ``image_url``/``video_url``/``thumbnail_url``, ``ctwa_clid``
  (the ad click id; omitted for WhatsApp Status placements) and ``welcome_message.text``.
  Only the first message after the click has it.
* Instagram / Messenger: ``referral`` with ``ref``, ``ad_id``, ``source`` (``ADS``),
  ``type`` (``OPEN_THREAD``) and ``ads_context_data`` (``ad_title``, ``photo_url``,
  ``video_url``, ``post_id``, ``product_id``).

Assumed: on Instagram the referral of a message from a click-to-Direct ad arrives either
beside ``message`` in the messaging item or inside ``message`` (both are read); a
``source_type`` of ``post`` (a boosted post, no ad id) keeps the click id and URL only.

A referral that is not an object, or has values of the wrong type or size, is dropped:
the message is stored as usual and the reason goes into ``extra["referral_error"]``, which
the inbox writes to ``error_logs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from .models import AdReferral

REFERRAL_ERROR = "referral_error"


def _text(d: dict[str, Any], key: str) -> str | None:
    v = d.get(key)
    if v is None or v == "":
        return None
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    if not isinstance(v, str):
        raise ValueError(f"referral.{key} is not a string")
    return v


def _build(**fields: Any) -> AdReferral:
    try:
        return AdReferral(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValueError(f"referral.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def whatsapp_referral(raw: Any) -> AdReferral:
    """``AdReferral`` of a WhatsApp message's ``referral``; ``ValueError`` if malformed."""
    if not isinstance(raw, dict):
        raise ValueError("referral is not an object")
    source_type = _text(raw, "source_type")
    clid = _text(raw, "ctwa_clid")
    return _build(
        source="whatsapp_referral",
        ad_id=_text(raw, "source_id") if source_type in (None, "ad") else None,
        source_type=source_type,
        source_url=_text(raw, "source_url"),
        headline=_text(raw, "headline"),
        click_id_kind="ctwa_clid" if clid else None,
        click_id=clid,
    )


def instagram_referral(raw: Any) -> AdReferral:
    """``AdReferral`` of an Instagram messaging ``referral``; ``ValueError`` if malformed."""
    if not isinstance(raw, dict):
        raise ValueError("referral is not an object")
    ctx = raw.get("ads_context_data")
    if ctx is not None and not isinstance(ctx, dict):
        raise ValueError("referral.ads_context_data is not an object")
    return _build(
        source="instagram_referral",
        ad_id=_text(raw, "ad_id"),
        source_type=(_text(raw, "source") or "").lower() or None,
        headline=_text(ctx, "ad_title") if ctx else None,
        ref=_text(raw, "ref"),
    )


def read_referral(raw: Any, parse: Any) -> tuple[AdReferral | None, str | None]:
    """(referral, error): ``parse`` applied to ``raw`` when present, never raising."""
    if raw is None:
        return None, None
    try:
        return parse(raw), None
    except ValueError as exc:
        return None, str(exc)[:500]


__all__ = ["REFERRAL_ERROR", "instagram_referral", "read_referral", "whatsapp_referral"]
