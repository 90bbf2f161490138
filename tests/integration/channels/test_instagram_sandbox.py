"""The Instagram connector against its sandbox over HTTP: signed webhooks, the send API,
the window, Meta's error object and injected faults."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tools.channels.errors import ChannelSendError, MediaTooLarge
from tools.channels.instagram import (
    InstagramAccount,
    InstagramClient,
    InstagramMessage,
    InstagramMessageRejected,
    InstagramOutsideWindow,
    OutboundMedia,
    parse_webhook,
)
from tools.channels.instagram.sandbox import InstagramSandboxConfig
from tools.channels.meta import verify_signature

from .conftest import Receiver, RunningInstagram

CFG = InstagramSandboxConfig()


def client(http: httpx.AsyncClient, ig: RunningInstagram, token: str = CFG.access_token) -> InstagramClient:
    return InstagramClient(http, InstagramAccount(CFG.ig_user_id, token, base_url=ig.base_url))


async def test_customer_message_arrives_signed_and_parses(
    instagram: RunningInstagram, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    r = await http.post(
        f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID9", "text": "oi", "times": 2}
    )
    assert r.json()["deliveries"] == [200, 200]  # a duplicate delivery, as Meta retries
    assert len(receiver.requests) == 2
    first, dup = receiver.requests
    assert first.body == dup.body
    assert verify_signature(first.body, first.headers["x-hub-signature-256"], CFG.app_secret)
    (msg,) = parse_webhook(first.body).events
    assert isinstance(msg, InstagramMessage) and msg.text == "oi" and msg.customer_id == "IGSID9"
    assert msg.mid == r.json()["mid"]


@pytest.mark.parametrize("mode", ["wrong", "none"])
async def test_forged_deliveries_do_not_verify(
    mode: str, instagram: RunningInstagram, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    await http.post(f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID9", "text": "x", "sign": mode})
    (req,) = receiver.requests
    assert not verify_signature(req.body, req.headers.get("x-hub-signature-256"), CFG.app_secret)


async def test_reply_is_sent_and_echoed(
    instagram: RunningInstagram, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    await http.post(f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID1", "text": "preço?"})
    now = datetime.now(UTC)
    sent = await client(http, instagram).send_text("IGSID1", "R$ 10", last_customer_message_at=now, now=now)
    (record,) = instagram.sandbox.sent
    assert record["message_id"] == sent.message_id and record["message"] == {"text": "R$ 10"}
    assert record["messaging_type"] == "RESPONSE"
    for _ in range(100):
        if len(receiver.requests) == 2:
            break
        await asyncio.sleep(0.02)
    (echo,) = parse_webhook(receiver.requests[1].body).events
    assert isinstance(echo, InstagramMessage) and echo.is_echo and echo.mid == sent.message_id


async def test_window_is_enforced_locally_and_by_the_sandbox(
    instagram: RunningInstagram, http: httpx.AsyncClient
) -> None:
    age = 30 * 3600
    await http.post(f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID2", "text": "x", "age_s": age})
    ig = client(http, instagram)
    now = datetime.now(UTC)
    last = now - timedelta(seconds=age)
    with pytest.raises(InstagramOutsideWindow):
        await ig.send_text("IGSID2", "bot answer", last_customer_message_at=last, now=now)
    assert instagram.sandbox.sent == []  # refused before calling Meta
    # A person may answer with HUMAN_AGENT; the sandbox accepts it up to 7 days.
    await ig.send_text("IGSID2", "human answer", last_customer_message_at=last, now=now, by_human=True)
    assert instagram.sandbox.sent[-1]["tag"] == "HUMAN_AGENT"
    # Lying to the connector about the window: Meta's own check answers 10/2018278.
    with pytest.raises(ChannelSendError) as late:
        await ig.send_text("IGSID2", "late", last_customer_message_at=now, now=now)
    assert late.value.details["error_subcode"] == 2018278 and not late.value.retriable


async def test_graph_errors_and_faults(instagram: RunningInstagram, http: httpx.AsyncClient) -> None:
    await http.post(f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID3", "text": "x"})
    now = datetime.now(UTC)
    with pytest.raises(ChannelSendError) as bad_token:
        await client(http, instagram, token="nope").send_text("IGSID3", "x", last_customer_message_at=now, now=now)
    assert bad_token.value.provider_code == "190" and not bad_token.value.retriable
    await http.post(f"{instagram.base_url}/sandbox/faults", json={"status": 400, "code": 613, "message": "rate"})
    ig = client(http, instagram)
    with pytest.raises(ChannelSendError) as limited:
        await ig.send_text("IGSID3", "x", last_customer_message_at=now, now=now)
    assert limited.value.provider_code == "613" and limited.value.retriable
    await ig.send_text("IGSID3", "after the fault", last_customer_message_at=now, now=now)  # fault consumed
    with pytest.raises(InstagramMessageRejected):
        await ig.send_text("IGSID3", "x" * 1000, last_customer_message_at=now, now=now)
    with pytest.raises(MediaTooLarge) as big:
        media = OutboundMedia("image", "https://cdn.test/a.png", size_bytes=9 * 1024 * 1024)
        await ig.send_media("IGSID3", media, last_customer_message_at=now, now=now)
    assert big.value.details["limit_bytes"] == 8 * 1024 * 1024
    assert [s["message"] for s in instagram.sandbox.sent] == [{"text": "after the fault"}]


async def test_reactions_and_reads_are_delivered(
    instagram: RunningInstagram, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    await http.post(f"{instagram.base_url}/sandbox/reaction", json={"customer_id": "IGSID4", "mid": "m1"})
    await http.post(f"{instagram.base_url}/sandbox/read", json={"customer_id": "IGSID4", "mid": "m1"})
    kinds = [
        next(iter(set(json.loads(r.body)["entry"][0]["messaging"][0]) - {"sender", "recipient", "timestamp"}))
        for r in receiver.requests
    ]
    assert kinds == ["reaction", "read"]


async def test_connector_sends_for_an_account_and_checks_the_window(
    instagram: RunningInstagram, http: httpx.AsyncClient
) -> None:
    import uuid

    from pydantic import SecretStr

    from tools.channels import AccountView, OutboundPart, OutsideReplyWindow, WindowState
    from tools.channels.instagram import InstagramConnector

    await http.post(
        f"{instagram.base_url}/sandbox/inbound", json={"customer_id": "IGSID5", "text": "x", "age_s": 3 * 86400}
    )
    account = AccountView(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), channel="instagram", provider="instagram",
        external_id=CFG.ig_user_id, base_url=instagram.base_url,
        secrets={"access_token": SecretStr(CFG.access_token), "app_secret": SecretStr(CFG.app_secret)},
    )  # fmt: skip
    connector = InstagramConnector(http)
    now = datetime.now(UTC)
    window = WindowState(now - timedelta(days=3), now)
    with pytest.raises(OutsideReplyWindow) as bot:
        connector.check_window(OutboundPart(text="bot"), window)
    assert bot.value.status == 409
    staff = OutboundPart(text="a person answers", sent_by="staff")
    connector.check_window(staff, window)
    result = await connector.send(account, "IGSID5", staff)
    assert instagram.sandbox.sent[-1]["message_id"] == result.provider_message_id
    assert instagram.sandbox.sent[-1]["tag"] == "HUMAN_AGENT"
    with pytest.raises(ChannelSendError) as late:  # sent as Luddy anyway: Meta's own check refuses
        await connector.send(account, "IGSID5", OutboundPart(text="bot"))
    assert not late.value.retriable
