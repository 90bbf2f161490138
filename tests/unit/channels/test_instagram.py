"""Instagram: signature, webhook parsing and the messaging window (no services)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tools.channels.instagram import (
    InstagramMessage,
    InstagramOutsideWindow,
    InstagramReaction,
    InstagramRead,
    MalformedInstagramWebhook,
    parse_webhook,
    send_mode,
)
from tools.channels.instagram.client import send_error
from tools.channels.meta import sign, verify_signature

ACC = "17841400000000001"


def body(*items: dict[str, object], acc: str = ACC) -> bytes:
    return json.dumps({"object": "instagram", "entry": [{"id": acc, "time": 1, "messaging": list(items)}]}).encode()


def item(**kw: object) -> dict[str, object]:
    return {"sender": {"id": "IGSID1"}, "recipient": {"id": ACC}, "timestamp": 1700000000000, **kw}


def test_signature_roundtrip_and_tampering() -> None:
    raw = body(item(message={"mid": "m1", "text": "oi"}))
    header = sign(raw, "secret")
    assert header.startswith("sha256=")
    assert verify_signature(raw, header, "secret")
    assert not verify_signature(raw, header, "other")
    assert not verify_signature(raw + b" ", header, "secret")
    assert not verify_signature(raw, None, "secret")


def test_parses_message_echo_reaction_read() -> None:
    raw = body(
        item(
            message={"mid": "m1", "text": "oi", "attachments": [{"type": "image", "payload": {"url": "https://x/i"}}]}
        ),
        {
            "sender": {"id": ACC},
            "recipient": {"id": "IGSID1"},
            "timestamp": 1700000000001,
            "message": {"mid": "m2", "text": "hello", "is_echo": True},
        },
        item(reaction={"mid": "m2", "action": "react", "reaction": "love", "emoji": "x"}),
        item(read={"mid": "m2"}),
        item(postback={"title": "Start"}),
    )
    parsed = parse_webhook(raw)
    assert parsed.account_ids == (ACC,)
    msg, echo, reaction, read = parsed.events
    assert isinstance(msg, InstagramMessage) and msg.text == "oi" and msg.customer_id == "IGSID1"
    assert msg.attachments[0].type == "image" and msg.attachments[0].url == "https://x/i"
    assert isinstance(echo, InstagramMessage) and echo.is_echo and echo.customer_id == "IGSID1"
    assert isinstance(reaction, InstagramReaction) and reaction.mid == "m2" and reaction.action == "react"
    assert isinstance(read, InstagramRead) and read.mid == "m2"
    assert parsed.skipped == 1


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b'{"object": "page", "entry": [{"id": "1"}]}',
        b'{"object": "instagram", "entry": []}',
        b'{"object": "instagram", "entry": [{"time": 1, "messaging": []}]}',
        body({"sender": {"id": "a"}, "timestamp": 1, "message": {"mid": "x"}}),
        body(item(message={"text": "no mid"})),
        body(item(message={"mid": "m", "text": 5})),
        b'{"object": "instagram", "entry": [{"id": "1", "messaging": [{"sender": {"id": "\\u0000"}}]}]}',
    ],
)
def test_malformed_bodies_are_refused(raw: bytes) -> None:
    with pytest.raises(MalformedInstagramWebhook):
        parse_webhook(raw)


def test_window_rules() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert send_mode(now - timedelta(hours=23), now, by_human=False).messaging_type == "RESPONSE"
    with pytest.raises(InstagramOutsideWindow) as bot_late:
        send_mode(now - timedelta(hours=25), now, by_human=False)
    assert "human" in bot_late.value.message
    tagged = send_mode(now - timedelta(days=6), now, by_human=True)
    assert (tagged.messaging_type, tagged.tag) == ("MESSAGE_TAG", "HUMAN_AGENT")
    with pytest.raises(InstagramOutsideWindow):
        send_mode(now - timedelta(days=8), now, by_human=True)
    with pytest.raises(InstagramOutsideWindow):
        send_mode(None, now, by_human=True)


def test_meta_error_object_decides_retries() -> None:
    outside = send_error(400, {"error": {"message": "outside", "code": 10, "error_subcode": 2018278, "type": "x"}})
    assert not outside.retriable and outside.provider_code == "10"
    assert send_error(400, {"error": {"code": 613, "message": "slow down"}}).retriable
    assert not send_error(401, {"error": {"code": 190, "message": "token"}}).retriable
    assert send_error(502, "<html>").retriable


def test_normalized_batch_for_the_inbox() -> None:
    from tools.channels.instagram import parse

    raw = body(
        item(message={"mid": "m1", "text": "oi"}),
        {
            "sender": {"id": ACC},
            "recipient": {"id": "IGSID1"},
            "timestamp": 1700000000002,
            "message": {"mid": "o1", "is_echo": True},
        },
        item(read={"mid": "o1"}),
        item(reaction={"mid": "o1", "action": "react", "emoji": "x"}),
    )
    batch = parse(raw)
    msg, reaction = batch.messages
    assert (msg.channel, msg.provider, msg.provider_message_id, msg.contact.kind, msg.contact.value, msg.text) == (
        "instagram",
        "instagram",
        "m1",
        "platform",
        "IGSID1",
        "oi",
    )
    assert msg.account_external_id == ACC and reaction.type == "reaction" and reaction.reply_to == "o1"
    assert [(s.provider_message_id, s.status) for s in batch.statuses] == [("o1", "sent"), ("o1", "read")]
