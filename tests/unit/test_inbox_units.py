"""Pure pieces of the inbox: Meta signatures, the WhatsApp parser and body builder, the
reply window, Meta error classification, secret sealing, burst due times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from core.settings import INSECURE_DEV_CHANNEL_KEY
from tools.channels import MalformedWebhook, OutboundPart, OutsideReplyWindow, TemplateRef, WindowState
from tools.channels.meta import sign, verify_challenge, verify_signature
from tools.channels.meta.errors import send_error
from tools.channels.whatsapp import WhatsAppConnector, message_body, parse_webhook
from tools.inbox import SecretBox, SecretsUnreadable
from tools.inbox.turns import due_at


def _body(value: dict[str, object]) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {"display_phone_number": "1", "phone_number_id": "PN"},
                                **value,
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def test_signature_is_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"a":1}'
    header = sign(body, "s3cret")
    assert header.startswith("sha256=") and verify_signature(body, header, "s3cret")
    assert not verify_signature(body + b" ", header, "s3cret")
    assert not verify_signature(body, header, "other")
    assert not verify_signature(body, None, "s3cret") and not verify_signature(body, "sha1=abc", "s3cret")
    assert verify_challenge("subscribe", "tok", ["x", "tok"]) and not verify_challenge("unsubscribe", "tok", ["tok"])
    assert not verify_challenge("subscribe", "bad", ["tok"])


def test_parser_normalizes_messages_and_statuses() -> None:
    batch = parse_webhook(
        _body(
            {
                "contacts": [{"profile": {"name": "Maria"}, "wa_id": "5511999990000"}],
                "messages": [
                    {
                        "from": "5511999990000",
                        "id": "wamid.A",
                        "timestamp": "1700000000",
                        "type": "text",
                        "text": {"body": "Oi"},
                        "context": {"id": "wamid.Q"},
                    },
                    {
                        "from": "5511999990000",
                        "id": "wamid.B",
                        "timestamp": "1700000001",
                        "type": "document",
                        "document": {"id": "77", "mime_type": "application/pdf", "filename": "a.pdf"},
                    },
                ],
                "statuses": [
                    {
                        "id": "wamid.S",
                        "status": "failed",
                        "timestamp": "1700000002",
                        "recipient_id": "55",
                        "errors": [{"code": 131026, "title": "Message undeliverable"}],
                    }
                ],
            }
        )
    )
    a, b = batch.messages
    assert a.contact.value == "+5511999990000" and a.contact.name == "Maria" and a.reply_to == "wamid.Q"
    assert a.account_external_id == "PN" and a.sent_at == datetime.fromtimestamp(1700000000, tz=UTC)
    assert b.type == "document" and b.media[0].filename == "a.pdf" and b.media[0].provider_media_id == "77"
    (st,) = batch.statuses
    assert st.status == "failed" and st.error_code == "131026" and st.event_key == "wamid.S:failed"


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b"nope",
        b'{"object": "instagram"}',
        _body({"messages": [{"id": "x", "from": "12", "type": "text"}]}),
        _body({"messages": "x"}),
        b'{"object": "whatsapp_business_account", "entry": [{"changes": [1]}]}',
    ],
)
def test_parser_refuses_what_is_not_a_whatsapp_webhook(raw: bytes) -> None:
    with pytest.raises(MalformedWebhook):
        parse_webhook(raw)


def test_window_refuses_free_text_after_24h_but_not_templates() -> None:
    wa = WhatsAppConnector(None)  # type: ignore[arg-type]  # no HTTP in these checks
    now = datetime.now(UTC)
    text = OutboundPart(text="oi")
    wa.check_window(text, WindowState(now - timedelta(hours=23), now))
    with pytest.raises(OutsideReplyWindow) as caught:
        wa.check_window(text, WindowState(now - timedelta(hours=25), now))
    assert caught.value.details["alternative"] == "template"
    with pytest.raises(OutsideReplyWindow):
        wa.check_window(text, WindowState(None, now))
    wa.check_window(OutboundPart(kind="template", template=TemplateRef(name="t")), WindowState(None, now))


def test_message_bodies_follow_the_cloud_api() -> None:
    assert message_body("+5511999990000", OutboundPart(text="oi", reply_to="wamid.Q")) == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "5511999990000",
        "type": "text",
        "text": {"preview_url": False, "body": "oi"},
        "context": {"message_id": "wamid.Q"},
    }
    t = message_body("55", OutboundPart(kind="template", template=TemplateRef(name="hello", language="pt_BR")))
    assert t["template"] == {"name": "hello", "language": {"code": "pt_BR"}}


def test_meta_errors_are_classified() -> None:
    def err(code: int, status: int = 400) -> tuple[bool, str | None]:
        e = send_error(status, {"error": {"message": "m", "type": "OAuthException", "code": code, "fbtrace_id": "x"}})
        return e.retriable, e.provider_code

    assert err(130429, 429) == (True, "130429") and err(131056) == (True, "131056") and err(80007) == (True, "80007")
    assert err(131047) == (False, "131047") and err(100) == (False, "100") and err(131000, 500) == (True, "131000")
    assert send_error(502, None).retriable and not send_error(404, "x").retriable


def test_secrets_are_sealed_and_rotate() -> None:
    from cryptography.fernet import Fernet

    old = SecretBox(SecretStr(INSECURE_DEV_CHANNEL_KEY))
    token = old.seal({"access_token": "EAAG-very-secret"})
    assert b"very-secret" not in token
    new_key = Fernet.generate_key().decode()
    rotated = SecretBox(SecretStr(f"{new_key},{INSECURE_DEV_CHANNEL_KEY}"))
    assert rotated.open(token)["access_token"].get_secret_value() == "EAAG-very-secret"
    with pytest.raises(SecretsUnreadable):
        SecretBox(SecretStr(new_key)).open(token)


def test_burst_due_time_is_bounded_by_max_wait() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    assert due_at(t0, t0 + timedelta(seconds=1), 4, 15) == t0 + timedelta(seconds=5)
    assert due_at(t0, t0 + timedelta(seconds=14), 4, 15) == t0 + timedelta(seconds=15)
