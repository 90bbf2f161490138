"""A local, simulated e-mail provider (``tridium-email-sandbox``): SMTP in, Mailgun out.

* An SMTP server (aiosmtpd) that accepts what Tridium sends, keeps each message (envelope
  and parsed headers) and can refuse recipients (``550``) or fail them temporarily
  (``451``) on request, like a real relay.
* The customer's side: ``POST /sandbox/inbound`` writes a new e-mail and ``POST
  /sandbox/reply`` answers one of the captured messages with proper ``In-Reply-To`` /
  ``References``; both reach the gateway as Mailgun does with a route
  ``forward("<gateway>/webhooks/email/mailgun/mime")``: a ``multipart/form-data`` POST with
  ``body-mime`` and the ``timestamp``/``token``/``signature`` fields (see ``..mailgun`` for
  what was verified). ``sign: "wrong" | "none"`` and ``times: n`` simulate forgeries and
  Mailgun's retries/duplicates.

Everything here is simulated and says so (``X-Sandbox`` headers, ``sandbox`` in ids).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from typing import Any

import httpx
from aiosmtpd.smtp import SMTP, Envelope, Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..mailgun import sign
from ..mime import message_ids

SANDBOX_NAME = "tridium-email-sandbox"
DOMAIN = "customer.sandbox.test"


@dataclass
class EmailSandboxConfig:
    signing_key: str = "sandbox-mailgun-signing-key"
    webhook_url: str | None = None  # the gateway's /webhooks/email/mailgun/mime
    recipient: str = "sales@tenant.sandbox.test"  # the tenant's inbound address (RCPT TO)


@dataclass
class CapturedEmail:
    mail_from: str
    rcpt_to: list[str]
    headers: dict[str, str]
    text: str
    raw: bytes


@dataclass
class EmailSandbox:
    config: EmailSandboxConfig
    received: list[CapturedEmail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    tempfail: set[str] = field(default_factory=set)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    http: httpx.AsyncClient | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    # aiosmtpd handler hooks -------------------------------------------------------------
    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, _: list[str]) -> str:
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable (sandbox fault)"
        if address.lower() in self.tempfail:
            return "451 4.3.0 try again later (sandbox fault)"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(msg, EmailMessage)
        body = msg.get_body(preferencelist=("plain",))
        self.received.append(
            CapturedEmail(
                mail_from=str(envelope.mail_from),
                rcpt_to=list(envelope.rcpt_tos),
                headers={k.lower(): " ".join(str(v).split()) for k, v in msg.items()},
                text=str(body.get_content()) if body is not None else "",
                raw=raw,
            )
        )
        self.arrived.set()
        return "250 2.0.0 queued as sandbox"

    # the customer's side ---------------------------------------------------------------
    def compose(
        self,
        *,
        from_addr: str,
        subject: str,
        text: str,
        in_reply_to: str | None = None,
        references: str | None = None,
        attachments: list[dict[str, Any]] | None = None,
        message_id: str | None = None,
    ) -> bytes:
        msg = EmailMessage()
        msg["From"] = from_addr
        msg["To"] = self.config.recipient
        msg["Subject"] = subject
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id or make_msgid(idstring="sandbox", domain=DOMAIN)
        if in_reply_to:
            msg["In-Reply-To"] = in_reply_to
            msg["References"] = references or in_reply_to
        msg.set_content(text)
        for att in attachments or []:
            data = b"x" * int(att.get("size", 10))
            msg.add_attachment(data, maintype="application", subtype="octet-stream", filename=att.get("filename"))
        return bytes(msg)

    async def post_mime(self, raw: bytes, *, sender: str, sign_mode: str = "valid", times: int = 1) -> list[int]:
        url = self.config.webhook_url
        if not url or self.http is None:
            return []
        statuses = []
        for _ in range(max(1, times)):
            ts, token = str(int(time.time())), secrets.token_hex(25)
            sig = sign(self.config.signing_key, ts, token)
            if sign_mode == "wrong":
                sig = sign(self.config.signing_key + "-wrong", ts, token)
            fields: dict[str, str] = {"recipient": self.config.recipient, "sender": sender, "from": sender}
            if sign_mode != "none":
                fields |= {"timestamp": ts, "token": token, "signature": sig}
            try:
                resp = await self.http.post(
                    url,
                    data=fields,
                    files={"body-mime": ("message.mime", raw, "message/rfc822")},
                    headers={"X-Sandbox": SANDBOX_NAME},
                )
                status, answer = resp.status_code, resp.text[:2000]
            except httpx.HTTPError as exc:
                status, answer = 0, type(exc).__name__
            statuses.append(status)
            self.deliveries.append({"status": status, "signed": sign_mode, "answer": answer})
        return statuses


async def index(_: Request) -> JSONResponse:
    return JSONResponse(
        {"sandbox": SANDBOX_NAME, "simulated": True, "what": "e-mail (SMTP + Mailgun inbound)"},
        headers={"X-Sandbox": SANDBOX_NAME},
    )


def _sb(request: Request) -> EmailSandbox:
    sb: EmailSandbox = request.app.state.sandbox
    return sb


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def inbound(request: Request) -> JSONResponse:
    """``{from, subject, text, attachments?: [{filename, size}], sign?, times?}``."""
    sb, d = _sb(request), await _json(request)
    sender = str(d.get("from") or "Customer <customer@customer.sandbox.test>")
    raw = sb.compose(
        from_addr=sender,
        subject=str(d.get("subject") or "Hello"),
        text=str(d.get("text") or ""),
        attachments=d.get("attachments"),
        message_id=d.get("message_id"),
    )
    statuses = await sb.post_mime(
        raw, sender=sender, sign_mode=str(d.get("sign") or "valid"), times=int(d.get("times") or 1)
    )
    mid = message_ids(BytesParser(policy=policy.default).parsebytes(raw).get("message-id", ""))
    return JSONResponse({"message_id": mid[0] if mid else None, "deliveries": statuses})


async def reply(request: Request) -> JSONResponse:
    """The customer answers a message Tridium sent: ``{message_id, text}`` (message_id of
    the captured e-mail; the newest when omitted)."""
    sb, d = _sb(request), await _json(request)
    want = d.get("message_id")
    found = [m for m in sb.received if not want or m.headers.get("message-id") == want]
    if not found:
        return JSONResponse({"error": "no such captured message"}, status_code=404)
    parent = found[-1]
    parent_id = parent.headers.get("message-id", "")
    refs = " ".join([*message_ids(parent.headers.get("references")), parent_id])
    customer = parent.headers.get("to", "customer@customer.sandbox.test")
    quoted = "\n".join("> " + line for line in parent.text.splitlines())
    text = f"{d.get('text') or ''}\n\nOn {parent.headers.get('date', 'a day')}, Tridium wrote:\n{quoted}\n"
    subject = parent.headers.get("subject", "")
    raw = sb.compose(
        from_addr=customer,
        subject=subject if subject.lower().startswith("re:") else f"Re: {subject}",
        text=text,
        in_reply_to=parent_id,
        references=refs,
    )
    statuses = await sb.post_mime(raw, sender=customer)
    mid = message_ids(BytesParser(policy=policy.default).parsebytes(raw).get("message-id", ""))
    return JSONResponse({"message_id": mid[0] if mid else None, "in_reply_to": parent_id, "deliveries": statuses})


async def raw_post(request: Request) -> JSONResponse:
    """Post arbitrary bytes as ``body-mime`` (malformed-input tests)."""
    sb = _sb(request)
    statuses = await sb.post_mime(await request.body(), sender="x@customer.sandbox.test")
    return JSONResponse({"deliveries": statuses})


async def messages(request: Request) -> JSONResponse:
    data = [
        {"mail_from": m.mail_from, "rcpt_to": m.rcpt_to, "headers": m.headers, "text": m.text}
        for m in _sb(request).received
    ]
    return JSONResponse({"data": data})


async def faults(request: Request) -> JSONResponse:
    sb, d = _sb(request), await _json(request)
    sb.refuse = {a.lower() for a in d.get("refuse", [])}
    sb.tempfail = {a.lower() for a in d.get("tempfail", [])}
    return JSONResponse({"refuse": sorted(sb.refuse), "tempfail": sorted(sb.tempfail)})


async def target(request: Request) -> JSONResponse:
    d, sb = await _json(request), _sb(request)
    sb.config.webhook_url = d.get("url")
    if d.get("recipient"):
        sb.config.recipient = str(d["recipient"])
    return JSONResponse({"webhook_url": sb.config.webhook_url, "recipient": sb.config.recipient})


def create_app(sandbox: EmailSandbox) -> Starlette:
    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        sandbox.http = httpx.AsyncClient(timeout=10.0)
        try:
            yield
        finally:
            await sandbox.http.aclose()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/sandbox/inbound", inbound, methods=["POST"]),
            Route("/sandbox/reply", reply, methods=["POST"]),
            Route("/sandbox/raw", raw_post, methods=["POST"]),
            Route("/sandbox/messages", messages, methods=["GET"]),
            Route("/sandbox/faults", faults, methods=["POST"]),
            Route("/sandbox/webhook-target", target, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sandbox
    return app


async def start_smtp(sandbox: EmailSandbox, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    """Serve SMTP for ``sandbox`` on ``host:port`` (0: a free port) in this event loop."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(sandbox, hostname="smtp.sandbox.test"), host, port)


__all__ = ["SANDBOX_NAME", "CapturedEmail", "EmailSandbox", "EmailSandboxConfig", "create_app", "start_smtp"]
