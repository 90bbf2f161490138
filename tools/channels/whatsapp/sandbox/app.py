"""A local, simulated WhatsApp Business Cloud API (``whatsapp-cloud-sandbox``). NOT Meta.

Speaks, for the subset Tridium uses, what the real Cloud API speaks (see
``tools.channels.whatsapp.client`` / ``webhook`` for what was verified from Meta's docs):

* ``POST /{version}/{phone-number-id}/messages`` with ``Authorization: Bearer`` → 200
  ``{"messaging_product", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid.…"}]}``;
  Meta's error object on failures: 401 code 190 (bad token), 400 code 100 (invalid
  parameter), 400 code 131047 (free-form message outside the 24-hour window: the sandbox
  tracks each contact's last inbound message), and injected faults (5xx code 131000, 429
  with codes 130429 / 131056 / 80007).
* Webhooks to the gateway, signed ``X-Hub-Signature-256`` with the account's app secret:
  inbound messages (text, image, audio, document, interactive, button, location,
  reaction; any of them with a click-to-WhatsApp ``referral``) and, after each accepted
  send, status callbacks sent → delivered → read
  (optionally shuffled, to exercise out-of-order handling); any delivery can be replayed
  (duplicates).

Assumed (not verifiable offline): timings (statuses follow a send within
``status_delay_s``), wamid format beyond the ``wamid.`` prefix, and that Meta stops
retrying a webhook on 200 (the sandbox delivers once unless told to replay).

Tridium-only controls live under ``/sandbox/*`` (accounts, inbound, faults, replay, the
record of sent messages). Every response carries ``X-Sandbox: whatsapp-cloud-sandbox``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from ...meta.signature import SIGNATURE_HEADER, sign

log = logging.getLogger("tridium.whatsapp_sandbox")

SANDBOX_NAME = "whatsapp-cloud-sandbox"
WINDOW_S = 24 * 3600
_TYPES = ("text", "template", "interactive", "image", "audio", "video", "document", "sticker")


@dataclass
class Account:
    phone_number_id: str
    access_token: str
    app_secret: str
    webhook_url: str | None = None
    display_phone_number: str = "15550001234"
    waba_id: str = "102290129340398"


@dataclass
class Fault:
    status: int
    code: int
    message: str
    remaining: int
    retry_after: int | None = None


@dataclass
class SandboxState:
    accounts: dict[str, Account] = field(default_factory=dict)
    sent: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)  # webhook bodies we POSTed
    last_inbound: dict[tuple[str, str], float] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    status_mode: str = "ordered"  # ordered | shuffled | none
    status_delay_s: float = 0.05
    clock_offset_s: float = 0.0

    def now(self) -> float:
        return time.time() + self.clock_offset_s


def _wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()


def meta_error(
    status: int, code: int, message: str, *, details: str | None = None, retry_after: int | None = None
) -> JSONResponse:
    body = {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or message},
            "fbtrace_id": secrets.token_urlsafe(12),
        }
    }
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=status, headers=headers)


class _Marker(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["X-Sandbox"] = SANDBOX_NAME
        return response


class Sandbox:
    def __init__(self, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()
        self.http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # Webhooks -------------------------------------------------------------------------

    def envelope(self, account: Account, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": account.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": account.display_phone_number,
                                    "phone_number_id": account.phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    async def post_webhook(self, account: Account, payload: dict[str, Any], *, signature: str | None = None) -> int:
        """POST one signed delivery to the account's webhook; returns the HTTP status (0: unreachable)."""
        if not account.webhook_url or self.http is None:
            return 0
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature or sign(body, account.app_secret)}
        self.state.deliveries.append({"account": account.phone_number_id, "body": payload, "headers": headers})
        try:
            r = await self.http.post(account.webhook_url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("webhook delivery failed", extra={"error": str(exc)})
            return 0
        return r.status_code

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _statuses(self, account: Account, wamid: str, recipient: str) -> None:
        order = ["sent", "delivered", "read"]
        if self.state.status_mode == "shuffled":
            order = ["read", "sent", "delivered"]
            random.shuffle(order)
        for status in order:
            await asyncio.sleep(self.state.status_delay_s)
            value = {
                "statuses": [
                    {
                        "id": wamid,
                        "status": status,
                        "timestamp": str(int(self.state.now())),
                        "recipient_id": recipient,
                        "conversation": {"id": secrets.token_hex(16), "origin": {"type": "service"}},
                        "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
                    }
                ]
            }
            await self.post_webhook(account, self.envelope(account, value))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _inbound_item(kind: str, body: dict[str, Any], wa_id: str, wamid: str, ts: int) -> dict[str, Any]:
    item: dict[str, Any] = {"from": wa_id, "id": wamid, "timestamp": str(ts), "type": kind}
    text = str(body.get("text") or "")
    if kind == "text":
        item["text"] = {"body": text}
    elif kind in ("image", "audio", "video", "document", "sticker"):
        media = {
            "id": str(random.randint(10**14, 10**15)),
            "mime_type": body.get("mime_type", "image/jpeg"),
            "sha256": secrets.token_hex(32),
        }
        if text and kind != "audio":
            media["caption"] = text
        if kind == "document":
            media["filename"] = body.get("filename", "arquivo.pdf")
        item[kind] = media
    elif kind == "interactive":
        item["interactive"] = {
            "type": "button_reply",
            "button_reply": {"id": body.get("reply_id", "b1"), "title": text},
        }
    elif kind == "button":
        item["button"] = {"payload": body.get("payload", text), "text": text}
    elif kind == "location":
        item["location"] = {
            "latitude": body.get("latitude", -23.56),
            "longitude": body.get("longitude", -46.65),
            "name": text or "Local",
            "address": body.get("address", ""),
        }
    elif kind == "reaction":
        item["reaction"] = {"message_id": body.get("message_id", ""), "emoji": text or "👍"}
    if body.get("reply_to"):
        item["context"] = {"from": wa_id, "id": body["reply_to"]}
    if "referral" in body:
        # A message sent through a click-to-WhatsApp ad: Meta's ``referral`` object, passed
        # through as given (``source_id`` = the ad id, ``ctwa_clid`` = the click id), so
        # tests can also send malformed ones.
        item["referral"] = body["referral"]
    return item


def create_app(state: SandboxState | None = None) -> FastAPI:
    sandbox = Sandbox(state)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sandbox.http = httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0))
        try:
            yield
        finally:
            await sandbox.close()
            await sandbox.http.aclose()

    app = FastAPI(title="WhatsApp Cloud API SANDBOX (simulated, not Meta)", lifespan=lifespan)
    app.add_middleware(_Marker)
    app.state.sandbox = sandbox
    st = sandbox.state

    @app.post("/{version}/{phone_number_id}/messages")
    async def send_message(version: str, phone_number_id: str, request: Request) -> JSONResponse:
        account = st.accounts.get(phone_number_id)
        auth = request.headers.get("authorization", "")
        if account is None:
            return meta_error(400, 100, "Unsupported post request. Object does not exist", details=phone_number_id)
        if not secrets.compare_digest(auth.encode(), f"Bearer {account.access_token}".encode()):
            return meta_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if st.faults:
            fault = st.faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                st.faults.pop(0)
            return meta_error(fault.status, fault.code, fault.message, retry_after=fault.retry_after)
        try:
            body = await request.json()
        except ValueError:
            return meta_error(400, 100, "Invalid parameter", details="the body is not JSON")
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return meta_error(400, 100, "Invalid parameter", details="messaging_product must be whatsapp")
        to, kind = str(body.get("to") or ""), body.get("type", "text")
        if not to.isdigit() or kind not in _TYPES or not isinstance(body.get(kind), dict):
            return meta_error(400, 100, "Invalid parameter", details="to/type/content")
        if kind == "text" and not str(body["text"].get("body") or "").strip():
            return meta_error(400, 100, "Invalid parameter", details="text.body is required")
        last = st.last_inbound.get((phone_number_id, to))
        if kind != "template" and (last is None or st.now() - last > WINDOW_S):
            return meta_error(
                400,
                131047,
                "Re-engagement message",
                details="Message failed to send because more than 24 hours have passed since the customer last "
                "replied to this number.",
            )
        wamid = _wamid()
        st.sent.append(
            {"id": wamid, "phone_number_id": phone_number_id, "to": to, "type": kind, "body": body, "at": st.now()}
        )
        if st.status_mode != "none":
            sandbox._spawn(sandbox._statuses(account, wamid, to))
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}], "messages": [{"id": wamid}]}
        )

    # Tridium-only controls ---------------------------------------------------------------

    @app.post("/sandbox/accounts")
    async def add_account(request: Request) -> dict[str, Any]:
        data = await request.json()
        account = Account(
            phone_number_id=str(data["phone_number_id"]),
            access_token=str(data["access_token"]),
            app_secret=str(data["app_secret"]),
            webhook_url=data.get("webhook_url"),
            display_phone_number=str(data.get("display_phone_number") or "15550001234"),
        )
        st.accounts[account.phone_number_id] = account
        return {"phone_number_id": account.phone_number_id, "webhook_url": account.webhook_url}

    @app.post("/sandbox/inbound")
    async def inbound(request: Request) -> dict[str, Any]:
        """A customer writes: ``{"phone_number_id", "from", "text", "type"?, "name"?,
        "id"?, "bad_signature"?}`` → one signed webhook to the gateway."""
        data = await request.json()
        account = st.accounts[str(data["phone_number_id"])]
        wa_id = str(data["from"]).lstrip("+")
        wamid = str(data.get("id") or _wamid())
        ts = int(data.get("timestamp") or st.now())
        item = _inbound_item(str(data.get("type") or "text"), data, wa_id, wamid, ts)
        value = {"contacts": [{"profile": {"name": data.get("name") or "Cliente"}, "wa_id": wa_id}], "messages": [item]}
        st.last_inbound[(account.phone_number_id, wa_id)] = float(ts)
        signature = "sha256=" + "0" * 64 if data.get("bad_signature") else None
        status = await sandbox.post_webhook(account, sandbox.envelope(account, value), signature=signature)
        return {"id": wamid, "gateway_status": status}

    @app.post("/sandbox/replay")
    async def replay(request: Request) -> dict[str, Any]:
        """Deliver again the last ``count`` webhooks (Meta retries: duplicates)."""
        data = await request.json()
        count = int(data.get("count", 1))
        statuses = []
        for d in list(st.deliveries[-count:]):
            account = st.accounts[d["account"]]
            statuses.append(await sandbox.post_webhook(account, d["body"]))
        return {"replayed": len(statuses), "gateway_statuses": statuses}

    @app.post("/sandbox/faults")
    async def add_fault(request: Request) -> dict[str, Any]:
        """The next ``count`` sends fail: ``{"status": 503|429|400, "code": 131000|130429|131056|80007, "count"}``."""
        data = await request.json()
        fault = Fault(
            status=int(data.get("status", 503)),
            code=int(data.get("code", 131000)),
            message=str(data.get("message") or "Something went wrong (sandbox fault)"),
            remaining=int(data.get("count", 1)),
            retry_after=data.get("retry_after"),
        )
        st.faults.append(fault)
        return {"queued": len(st.faults)}

    @app.delete("/sandbox/faults")
    async def clear_faults() -> dict[str, Any]:
        st.faults.clear()
        return {"queued": 0}

    @app.post("/sandbox/settings")
    async def settings(request: Request) -> dict[str, Any]:
        data = await request.json()
        if "status_mode" in data:
            st.status_mode = str(data["status_mode"])
        if "status_delay_s" in data:
            st.status_delay_s = float(data["status_delay_s"])
        if "clock_offset_s" in data:
            st.clock_offset_s = float(data["clock_offset_s"])
        return {"status_mode": st.status_mode, "status_delay_s": st.status_delay_s, "clock_offset_s": st.clock_offset_s}

    @app.get("/sandbox/messages")
    async def sent_messages(to: str | None = None) -> dict[str, Any]:
        """What the business sent (what the customer's phone would show)."""
        items = [m for m in st.sent if to is None or m["to"] == to.lstrip("+")]
        return {"items": items, "count": len(items)}

    return app


__all__ = ["SANDBOX_NAME", "Account", "Sandbox", "SandboxState", "create_app", "meta_error"]
