"""Referral parsing and platform mapping (no services): what the channels hand the ads loop."""

from __future__ import annotations

import json
import uuid

import pytest

from tools.ads.attribution import platform_of
from tools.ads.conversions import RetryPolicy, conversion_event_id
from tools.ads.publish import pick_winner
from tools.channels import AdReferral
from tools.channels.referral import REFERRAL_ERROR, instagram_referral, read_referral, whatsapp_referral
from tools.channels.whatsapp.webhook import parse_webhook


def _wa(referral: object) -> bytes:
    msg = {"from": "5511977776666", "id": "wamid.X", "timestamp": "1764700000", "type": "text", "text": {"body": "oi"}}
    if referral is not None:
        msg["referral"] = referral
    value = {"metadata": {"phone_number_id": "123"}, "contacts": [], "messages": [msg]}
    body = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(body).encode()


def test_whatsapp_referral_fields() -> None:
    ref = whatsapp_referral(
        {"source_url": "https://fb.me/x", "source_id": "120226305854810726", "source_type": "ad",
         "headline": "Chat with us", "ctwa_clid": "Aff-n8ZT", "welcome_message": {"text": "Oi"}}
    )  # fmt: skip
    assert (ref.ad_id, ref.click_id_kind, ref.click_id, ref.source) == (
        "120226305854810726",
        "ctwa_clid",
        "Aff-n8ZT",
        "whatsapp_referral",
    )
    post = whatsapp_referral({"source_id": "999", "source_type": "post"})  # a boosted post: no ad id
    assert post.ad_id is None and post.click_id is None


def test_instagram_referral_fields() -> None:
    ref = instagram_referral({"ref": "bf", "ad_id": "777", "source": "ADS", "type": "OPEN_THREAD",
                              "ads_context_data": {"ad_title": "Black Friday"}})  # fmt: skip
    assert (ref.ad_id, ref.source_type, ref.headline, ref.ref) == ("777", "ads", "Black Friday", "bf")


@pytest.mark.parametrize("bad", ["text", 12, {"source_id": ["x"]}, {"ctwa_clid": "x" * 600}, {"headline": {"a": 1}}])
def test_malformed_whatsapp_referral_never_fails_the_message(bad: object) -> None:
    [msg] = parse_webhook(_wa(bad)).messages
    assert msg.referral is None and msg.extra[REFERRAL_ERROR] and msg.text == "oi"
    assert read_referral(None, whatsapp_referral) == (None, None)


def test_platform_from_click_id_then_utm_source() -> None:
    assert platform_of(AdReferral(source="widget", click_id_kind="gclid", click_id="x")) == "google"
    assert platform_of(AdReferral(source="widget", click_id_kind="ttclid", click_id="x")) == "tiktok"
    assert platform_of(AdReferral(source="widget", utm={"utm_source": "Instagram"})) == "meta"
    assert platform_of(AdReferral(source="widget", utm={"utm_source": "newsletter"})) is None
    assert platform_of(AdReferral(source="whatsapp_referral")) == "meta"
    with pytest.raises(ValueError):
        AdReferral(source="widget", utm={"utm_evil": "x"})


def test_event_ids_are_deterministic_per_tenant_and_sale() -> None:
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    assert conversion_event_id(t1, "purchase", "deal:1") == conversion_event_id(t1, "purchase", "deal:1")
    assert conversion_event_id(t1, "purchase", "deal:1") != conversion_event_id(t2, "purchase", "deal:1")
    assert conversion_event_id(t1, "purchase", "deal:1") != conversion_event_id(t1, "purchase", "payment:1")
    policy = RetryPolicy(base_s=30, cap_s=3600)
    assert [policy.backoff(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 3600]


def test_winner_needs_sales_and_breaks_ties_by_cpa() -> None:
    arm = {"sales": 0, "cpa_minor": None, "ctr": 0.05, "version": 1}
    assert pick_winner([arm]) is None
    a = {"sales": 2, "cpa_minor": 1500, "ctr": 0.01, "version": 1}
    b = {"sales": 2, "cpa_minor": 1000, "ctr": 0.01, "version": 2}
    assert pick_winner([a, b]) is b
