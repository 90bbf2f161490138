"""E-mail: Mailgun signature, MIME parsing and threading headers (no services)."""

from __future__ import annotations

import time
from email.message import EmailMessage

import pytest

from tools.channels.email import (
    AttachmentTooLarge,
    MailgunSignature,
    MalformedInboundEmail,
    OutboundEmail,
    SmtpAccount,
    build_message,
    lookup_ids,
    parse_email,
    reply_headers,
    verify,
)
from tools.channels.email.mailgun import sign


def mime(**headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = headers.pop("from_", "Ana Souza <Ana.Souza@Example.COM>")
    msg["To"] = "sales@tenant.test"
    msg["Subject"] = headers.pop("subject", "Preço")
    msg["Message-ID"] = headers.pop("message_id", "<c1@example.com>")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    return msg


def test_mailgun_signature() -> None:
    ts = str(int(time.time()))
    good = MailgunSignature(ts, "t" * 50, sign("key", ts, "t" * 50))
    assert verify("key", good)
    assert not verify("other", good)
    assert not verify("key", MailgunSignature(ts, "u" * 50, good.signature))
    stale = str(int(time.time()) - 3600)
    assert not verify("key", MailgunSignature(stale, "t" * 50, sign("key", stale, "t" * 50)))
    assert not verify("key", MailgunSignature("", "", ""))


def test_parse_plain_reply_strips_quote_and_lowercases() -> None:
    msg = mime(In_Reply_To="<ours1@tenant.test>", References="<c0@example.com> <ours1@tenant.test>")
    msg.set_content("Quanto custa?\n\nOn Tue, 1 Dec 2026, Tridium wrote:\n> Olá Ana\n")
    email = parse_email(bytes(msg))
    assert email.from_address == "ana.souza@example.com" and email.from_name == "Ana Souza"
    assert email.text == "Quanto custa?"
    assert "Olá Ana" in email.full_text
    assert email.in_reply_to == "<ours1@tenant.test>"
    assert lookup_ids(email) == ("<ours1@tenant.test>", "<c0@example.com>")


def test_parse_html_only_and_attachments() -> None:
    msg = mime()
    msg.set_content("<p>Oi<br>tudo bem?</p><script>x()</script>", subtype="html")
    msg.add_attachment(b"1234", maintype="application", subtype="pdf", filename="proposta.pdf")
    email = parse_email(bytes(msg))
    assert "Oi" in email.text and "tudo bem?" in email.text and "x()" not in email.text
    assert [(a.filename, a.content_type, a.size_bytes) for a in email.attachments] == [
        ("proposta.pdf", "application/pdf", 4)
    ]
    with pytest.raises(AttachmentTooLarge) as big:
        parse_email(bytes(msg), max_attachment_bytes=3)
    assert big.value.status == 413 and big.value.details["filename"] == "proposta.pdf"


@pytest.mark.parametrize("drop", ["From", "Message-ID"])
def test_parse_refuses_mail_without_sender_or_id(drop: str) -> None:
    msg = mime()
    msg.set_content("x")
    del msg[drop]
    with pytest.raises(MalformedInboundEmail):
        parse_email(bytes(msg))


def test_reply_headers_thread_and_build_message() -> None:
    h = reply_headers(
        "<c2@example.com>", ("<c1@example.com>", "<o1@tenant.test>"), "RE: Re: Preço", domain="tenant.test"
    )
    assert h.in_reply_to == "<c2@example.com>"
    assert h.references == "<c1@example.com> <o1@tenant.test> <c2@example.com>"
    assert h.subject == "Re: Preço" and h.message_id.endswith("@tenant.test>")
    acc = SmtpAccount("127.0.0.1", 25, "sales@tenant.test", "Luddy")
    msg = build_message(acc, OutboundEmail("ana@example.com", "Ana", "ignored", "Custa R$ 10", h))
    assert msg["In-Reply-To"] == "<c2@example.com>" and msg["References"] == h.references
    assert msg["Message-ID"] == h.message_id and msg["Subject"] == "Re: Preço"
    long_refs = tuple(f"<r{i}@x>" for i in range(40))
    trimmed = reply_headers("<p@x>", long_refs, "s", domain="x").references.split()
    assert len(trimmed) == 20 and trimmed[0] == "<r0@x>" and trimmed[-1] == "<p@x>"


def test_mailgun_form_normalizes_for_the_inbox() -> None:
    from tools.channels.email import parse as parse_inbound

    msg = mime(In_Reply_To="<o1@tenant.test>", References="<c0@example.com> <o1@tenant.test>")
    msg.set_content("Fechado!\n\n> antigo")
    batch = parse_inbound({"recipient": "Sales@Tenant.test", "sender": "ana@example.com"}, bytes(msg))
    (m,) = batch.messages
    assert (m.channel, m.provider, m.provider_message_id) == ("email", "mailgun", "<c1@example.com>")
    assert m.account_external_id == "sales@tenant.test" and m.contact.value == "ana.souza@example.com"
    assert m.text == "Fechado!" and m.reply_to == "<o1@tenant.test>" and m.thread_hint == "<c0@example.com>"
    assert m.extra["references"] == ["<o1@tenant.test>", "<c0@example.com>"]
    with pytest.raises(MalformedInboundEmail):
        parse_inbound({"recipient": "sales@tenant.test"}, None)
