"""A local, simulated Instagram messaging server (``tridium-instagram-sandbox``).

It speaks the send API of the Instagram API with Instagram Login (``POST /{version}/
{ig-user-id}/messages`` and ``/{version}/me/messages``, Bearer token, ``{"recipient_id",
"message_id"}`` or Meta's error object) and sends ``object: instagram`` webhooks signed with
``X-Hub-Signature-256`` to a target URL, as Meta does. What was verified is listed in
``tools.channels.instagram.client``/``parse``/``window``; here it is enforced: a wrong token
is error 190, a reply more than 24 h after the customer's last message is code 10 / subcode
2018278 unless tagged HUMAN_AGENT (then up to 7 days), text of 1000+ characters is code 100.

Simulated, and it says so (``X-Sandbox`` header, ``sandbox`` in every id). Tridium-only
controls live under ``/sandbox/``: make a customer write (optionally delivered several times,
or unsigned / wrongly signed), react, read, queue faults for the send API, list what was sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ...meta import SIGNATURE_HEADER, sign

SANDBOX_NAME = "tridium-instagram-sandbox"
STANDARD_WINDOW_S = 24 * 3600
HUMAN_AGENT_WINDOW_S = 7 * 24 * 3600


@dataclass
class InstagramSandboxConfig:
    ig_user_id: str = "17841400000000001"
    access_token: str = "IGAA-sandbox-token"
    app_secret: str = "sandbox-app-secret"
    webhook_url: str | None = None  # where webhooks go (the gateway's /webhooks/instagram)
    echo: bool = True  # Meta sends an is_echo message webhook for what the account sent


@dataclass
class Fault:
    status: int
    code: int
    subcode: int | None
    message: str
    times: int


@dataclass
class InstagramSandbox:
    config: InstagramSandboxConfig
    last_inbound: dict[str, float] = field(default_factory=dict)  # IGSID -> epoch s
    sent: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    http: httpx.AsyncClient | None = None

    def new_mid(self) -> str:
        return f"aWdfZAG1sandbox{int(time.time() * 1000)}{next(self._ids):06d}"

    def webhook(self, items: list[dict[str, Any]]) -> bytes:
        now_ms = int(time.time() * 1000)
        body = {"object": "instagram", "entry": [{"id": self.config.ig_user_id, "time": now_ms, "messaging": items}]}
        return json.dumps(body, ensure_ascii=False).encode()

    async def deliver(self, body: bytes, *, sign_mode: str = "valid", times: int = 1) -> list[int]:
        url = self.config.webhook_url
        if not url or self.http is None:
            return []
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua", "X-Sandbox": SANDBOX_NAME}
        if sign_mode == "valid":
            headers[SIGNATURE_HEADER] = sign(body, self.config.app_secret)
        elif sign_mode == "wrong":
            headers[SIGNATURE_HEADER] = sign(body, self.config.app_secret + "-wrong")
        statuses = []
        for _ in range(max(1, times)):
            try:
                resp = await self.http.post(url, content=body, headers=headers)
                status = resp.status_code
            except httpx.HTTPError:
                status = 0
            statuses.append(status)
            self.deliveries.append({"status": status, "body": json.loads(body), "signed": sign_mode})
        return statuses


def _graph_error(status: int, code: int, message: str, subcode: int | None = None) -> JSONResponse:
    err: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "SandboxTrace"}
    if subcode is not None:
        err["error_subcode"] = subcode
    return JSONResponse({"error": err}, status_code=status, headers={"X-Sandbox": SANDBOX_NAME})


async def index(_: Request) -> JSONResponse:
    return JSONResponse(
        {"sandbox": SANDBOX_NAME, "simulated": True, "what": "Instagram messaging"}, headers={"X-Sandbox": SANDBOX_NAME}
    )


def _sb(request: Request) -> InstagramSandbox:
    sb: InstagramSandbox = request.app.state.sandbox
    return sb


async def send_message(request: Request) -> JSONResponse:
    sb = _sb(request)
    cfg = sb.config
    account = request.path_params["account"]
    if request.headers.get("authorization") != f"Bearer {cfg.access_token}":
        return _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
    if account not in ("me", cfg.ig_user_id):
        return _graph_error(400, 100, "Unsupported post request. Object does not exist")
    if sb.faults:
        fault = sb.faults[0]
        fault.times -= 1
        if fault.times <= 0:
            sb.faults.pop(0)
        return _graph_error(fault.status, fault.code, fault.message, fault.subcode)
    try:
        body = await request.json()
    except ValueError:
        return _graph_error(400, 100, "(#100) The parameter recipient is required")
    recipient = (body.get("recipient") or {}).get("id") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(recipient, str) or not isinstance(message, dict):
        return _graph_error(400, 100, "(#100) The parameter recipient is required")
    text = message.get("text")
    if text is not None and (not isinstance(text, str) or len(text) >= 1000):
        return _graph_error(400, 100, "(#100) Length of param message[text] must be less than 1000")
    if text is None and not isinstance(message.get("attachment"), dict):
        return _graph_error(400, 100, "(#100) Param message must contain text or attachment")
    last = sb.last_inbound.get(recipient)
    if last is None:
        return _graph_error(400, 551, "This person isn't available right now.", 1545041)
    age = time.time() - last
    tagged = body.get("messaging_type") == "MESSAGE_TAG" and body.get("tag") == "HUMAN_AGENT"
    if age > (HUMAN_AGENT_WINDOW_S if tagged else STANDARD_WINDOW_S):
        return _graph_error(400, 10, "(#10) This message is sent outside of allowed window.", 2018278)
    mid = sb.new_mid()
    sb.sent.append({"message_id": mid, "recipient_id": recipient, "message": message, **_mode(body)})
    if cfg.echo:
        echo = {"sender": {"id": cfg.ig_user_id}, "recipient": {"id": recipient}, "timestamp": int(time.time() * 1000)}
        echo["message"] = {"mid": mid, "is_echo": True, **({"text": text} if text else {})}
        task = asyncio.create_task(_deliver_quietly(sb, sb.webhook([echo])))
        sb._tasks.add(task)
        task.add_done_callback(sb._tasks.discard)
    return JSONResponse({"recipient_id": recipient, "message_id": mid}, headers={"X-Sandbox": SANDBOX_NAME})


def _mode(body: dict[str, Any]) -> dict[str, Any]:
    return {"messaging_type": body.get("messaging_type"), "tag": body.get("tag")}


async def _deliver_quietly(sb: InstagramSandbox, body: bytes) -> None:
    await asyncio.sleep(0.05)  # Meta's echo comes after the send call returned
    await sb.deliver(body)


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


async def inbound(request: Request) -> JSONResponse:
    """A customer writes: ``{customer_id, text?, attachments?, age_s?, times?, sign?}``."""
    sb = _sb(request)
    d = await _json(request)
    customer = str(d.get("customer_id") or "")
    if not customer:
        return JSONResponse({"error": "customer_id is required"}, status_code=400)
    ts = time.time() - float(d.get("age_s") or 0)
    sb.last_inbound[customer] = max(sb.last_inbound.get(customer, 0.0), ts)
    mid = str(d.get("mid") or sb.new_mid())
    msg: dict[str, Any] = {"mid": mid}
    if d.get("text") is not None:
        msg["text"] = d["text"]
    if d.get("attachments"):
        msg["attachments"] = d["attachments"]
    item = {"sender": {"id": customer}, "recipient": {"id": sb.config.ig_user_id}, "timestamp": int(ts * 1000)}
    item["message"] = msg
    sign_mode, times = str(d.get("sign") or "valid"), int(d.get("times") or 1)
    statuses = await sb.deliver(sb.webhook([item]), sign_mode=sign_mode, times=times)
    return JSONResponse({"mid": mid, "deliveries": statuses})


async def reaction(request: Request) -> JSONResponse:
    sb = _sb(request)
    d = await _json(request)
    item = {
        "sender": {"id": str(d.get("customer_id"))},
        "recipient": {"id": sb.config.ig_user_id},
        "timestamp": int(time.time() * 1000),
        "reaction": {"mid": d.get("mid"), "action": d.get("action", "react"), "reaction": "love", "emoji": "\u2764"},
    }
    return JSONResponse({"deliveries": await sb.deliver(sb.webhook([item]))})


async def read(request: Request) -> JSONResponse:
    sb = _sb(request)
    d = await _json(request)
    item = {
        "sender": {"id": str(d.get("customer_id"))},
        "recipient": {"id": sb.config.ig_user_id},
        "timestamp": int(time.time() * 1000),
        "read": {"mid": d.get("mid")},
    }
    return JSONResponse({"deliveries": await sb.deliver(sb.webhook([item]))})


async def raw(request: Request) -> JSONResponse:
    """Deliver an arbitrary body (malformed-payload tests), signed unless ``?sign=none``."""
    sb = _sb(request)
    body = await request.body()
    return JSONResponse({"deliveries": await sb.deliver(body, sign_mode=request.query_params.get("sign", "valid"))})


async def faults(request: Request) -> JSONResponse:
    sb = _sb(request)
    d = await _json(request)
    sb.faults.append(
        Fault(
            status=int(d.get("status", 400)),
            code=int(d.get("code", 2)),
            subcode=int(d["subcode"]) if d.get("subcode") is not None else None,
            message=str(d.get("message", "An unexpected error has occurred. Please retry your request later.")),
            times=int(d.get("times", 1)),
        )
    )
    return JSONResponse({"queued": len(sb.faults)})


async def sent(request: Request) -> JSONResponse:
    return JSONResponse({"data": _sb(request).sent})


async def target(request: Request) -> JSONResponse:
    d = await _json(request)
    _sb(request).config.webhook_url = d.get("url")
    return JSONResponse({"webhook_url": d.get("url")})


def create_app(config: InstagramSandboxConfig | None = None) -> Starlette:
    sb = InstagramSandbox(config or InstagramSandboxConfig())

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        sb.http = httpx.AsyncClient(timeout=10.0)
        try:
            yield
        finally:
            for task in list(sb._tasks):
                task.cancel()
            await sb.http.aclose()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/{version}/{account}/messages", send_message, methods=["POST"]),
            Route("/sandbox/inbound", inbound, methods=["POST"]),
            Route("/sandbox/reaction", reaction, methods=["POST"]),
            Route("/sandbox/read", read, methods=["POST"]),
            Route("/sandbox/raw", raw, methods=["POST"]),
            Route("/sandbox/faults", faults, methods=["POST"]),
            Route("/sandbox/sent", sent, methods=["GET"]),
            Route("/sandbox/webhook-target", target, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = sb
    return app


__all__ = ["SANDBOX_NAME", "InstagramSandbox", "InstagramSandboxConfig", "create_app"]
