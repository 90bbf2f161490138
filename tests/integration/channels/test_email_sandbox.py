"""E-mail against its sandbox: our SMTP sender, the customer's reply as a signed Mailgun
raw-MIME POST, and the threading headers that make the reply land in the same thread."""

from __future__ import annotations

import httpx
import pytest

from tools.channels.email import (
    AttachmentTooLarge,
    EmailSendFailed,
    OutboundEmail,
    SmtpAccount,
    SmtpSender,
    inbound_of,
    lookup_ids,
    parse_email,
    reply_headers,
    signature_of,
    verify,
)
from tools.channels.email.sandbox import EmailSandboxConfig, RunningEmailSandbox

from .conftest import Receiver

KEY = EmailSandboxConfig().signing_key


def sender(sb: RunningEmailSandbox) -> SmtpSender:
    return SmtpSender(SmtpAccount(sb.smtp_host, sb.smtp_port, "sales@tenant.sandbox.test", "Luddy"))


async def test_reply_threads_both_ways(
    email_sandbox: RunningEmailSandbox, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    # 1. The customer writes; it reaches us as Mailgun's signed raw-MIME forward.
    r = await http.post(
        f"{email_sandbox.base_url}/sandbox/inbound",
        json={"from": "Ana <Ana@Customer.Sandbox.Test>", "subject": "Preço", "text": "Quanto custa?"},
    )
    assert r.json()["deliveries"] == [200]
    (req,) = receiver.requests
    assert verify(KEY, signature_of(req.form))
    first = parse_email(inbound_of(req.form, req.files["body-mime"]).raw_mime)
    assert first.from_address == "ana@customer.sandbox.test" and first.text == "Quanto custa?"
    assert first.message_id == r.json()["message_id"]
    # 2. We answer over SMTP, threaded under her message.
    headers = reply_headers(first.message_id, first.references, first.subject, domain="tenant.sandbox.test")
    our_id = await sender(email_sandbox).send(OutboundEmail(first.from_address, first.from_name, "", "R$ 10", headers))
    (captured,) = email_sandbox.sandbox.received
    assert captured.rcpt_to == ["ana@customer.sandbox.test"]
    assert captured.headers["in-reply-to"] == first.message_id
    assert captured.headers["references"] == first.message_id
    assert captured.headers["subject"] == "Re: Preço" and captured.headers["message-id"] == our_id
    # 3. She replies from her client: In-Reply-To names our message, References the chain.
    r2 = await http.post(f"{email_sandbox.base_url}/sandbox/reply", json={"message_id": our_id, "text": "Fechado!"})
    assert r2.json()["deliveries"] == [200]
    second = parse_email(receiver.requests[1].files["body-mime"])
    assert second.text == "Fechado!"  # the quoted history is cut
    assert lookup_ids(second) == (our_id, first.message_id)


async def test_forged_and_replayed_posts_do_not_verify(
    email_sandbox: RunningEmailSandbox, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    for mode in ("wrong", "none"):
        await http.post(f"{email_sandbox.base_url}/sandbox/inbound", json={"text": "x", "sign": mode})
    assert [verify(KEY, signature_of(r.form)) for r in receiver.requests] == [False, False]
    await http.post(f"{email_sandbox.base_url}/sandbox/inbound", json={"text": "x", "times": 2})
    dup1, dup2 = receiver.requests[2:]
    assert dup1.files["body-mime"] == dup2.files["body-mime"]  # same Message-ID: the inbox dedupes on it
    assert dup1.form["token"] != dup2.form["token"]


async def test_smtp_refusals(email_sandbox: RunningEmailSandbox, http: httpx.AsyncClient) -> None:
    await http.post(
        f"{email_sandbox.base_url}/sandbox/faults",
        json={"refuse": ["gone@customer.sandbox.test"], "tempfail": ["busy@customer.sandbox.test"]},
    )
    smtp = sender(email_sandbox)
    with pytest.raises(EmailSendFailed) as gone:
        await smtp.send(OutboundEmail("gone@customer.sandbox.test", None, "Oi", "x"))
    assert gone.value.smtp_code == 550 and not gone.value.retryable
    with pytest.raises(EmailSendFailed) as busy:
        await smtp.send(OutboundEmail("busy@customer.sandbox.test", None, "Oi", "x"))
    assert busy.value.smtp_code == 451 and busy.value.retryable
    assert email_sandbox.sandbox.received == []
    down = SmtpSender(SmtpAccount("127.0.0.1", 1, "a@b.test", timeout_s=2))
    with pytest.raises(EmailSendFailed) as unreachable:
        await down.send(OutboundEmail("x@y.test", None, "s", "t"))
    assert unreachable.value.retryable


async def test_oversized_attachment_is_refused(
    email_sandbox: RunningEmailSandbox, receiver: Receiver, http: httpx.AsyncClient
) -> None:
    await http.post(
        f"{email_sandbox.base_url}/sandbox/inbound",
        json={"text": "see attached", "attachments": [{"filename": "big.bin", "size": 2048}]},
    )
    raw = receiver.requests[0].files["body-mime"]
    assert parse_email(raw, max_attachment_bytes=4096).attachments[0].size_bytes == 2048
    with pytest.raises(AttachmentTooLarge) as refused:
        parse_email(raw, max_attachment_bytes=1024)
    assert refused.value.status == 413


async def test_new_conversation_has_its_own_message_id(email_sandbox: RunningEmailSandbox) -> None:
    mid = await sender(email_sandbox).send(OutboundEmail("ana@customer.sandbox.test", "Ana", "Proposta", "Segue"))
    (captured,) = email_sandbox.sandbox.received
    assert captured.headers["message-id"] == mid and "in-reply-to" not in captured.headers


async def test_connector_threads_answers_from_the_reply_context(email_sandbox: RunningEmailSandbox) -> None:
    import uuid

    from tools.channels import AccountView, ChannelSendError, OutboundPart
    from tools.channels.email import EmailConnector

    account = AccountView(
        id=uuid.uuid4(), tenant_id=uuid.uuid4(), channel="email", provider="mailgun",
        external_id="sales@tenant.sandbox.test", base_url=None,
        config={"smtp_host": email_sandbox.smtp_host, "smtp_port": email_sandbox.smtp_port, "from_name": "Luddy"},
    )  # fmt: skip
    part = OutboundPart(text="R$ 10", reply_to="<c2@x.test>", references=("<c1@x.test>",), subject="Preço")
    result = await EmailConnector().send(account, "ana@customer.sandbox.test", part)
    (got,) = email_sandbox.sandbox.received
    assert got.headers["message-id"] == result.provider_message_id
    assert got.headers["in-reply-to"] == "<c2@x.test>" and got.headers["references"] == "<c1@x.test> <c2@x.test>"
    assert got.headers["subject"] == "Re: Preço" and got.headers["from"] == "Luddy <sales@tenant.sandbox.test>"
    email_sandbox.sandbox.refuse = {"gone@customer.sandbox.test"}
    with pytest.raises(ChannelSendError) as gone:
        await EmailConnector().send(account, "gone@customer.sandbox.test", OutboundPart(text="x"))
    assert not gone.value.retriable and gone.value.provider_code == "550"
