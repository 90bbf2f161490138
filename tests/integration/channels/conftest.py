"""Channel sandboxes on real sockets, and a webhook receiver recording what reaches it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest_asyncio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tools.asaas.sandbox import background_server
from tools.channels.email.sandbox import EmailSandboxConfig, RunningEmailSandbox, running_email_sandbox
from tools.channels.instagram.sandbox import InstagramSandbox, InstagramSandboxConfig, create_app


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass
class Receiver:
    url: str
    requests: list[Received]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got: list[Received] = []

    async def hook(request: Request) -> Response:
        rec = Received({k.lower(): v for k, v in request.headers.items()}, b"")
        if request.headers.get("content-type", "").startswith("multipart/"):
            async with request.form() as form:
                for k, v in form.multi_items():
                    if isinstance(v, str):
                        rec.form[k] = v
                    else:
                        rec.files[k] = await v.read()
        else:
            rec.body = await request.body()
        got.append(rec)
        return Response(status_code=200)

    async with background_server(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base:
        yield Receiver(f"{base}/hook", got)


@dataclass
class RunningInstagram:
    base_url: str
    sandbox: InstagramSandbox


@pytest_asyncio.fixture
async def instagram(receiver: Receiver) -> AsyncIterator[RunningInstagram]:
    app = create_app(InstagramSandboxConfig(webhook_url=receiver.url))
    async with background_server(app) as base:
        yield RunningInstagram(base, app.state.sandbox)


@pytest_asyncio.fixture
async def email_sandbox(receiver: Receiver) -> AsyncIterator[RunningEmailSandbox]:
    async with running_email_sandbox(EmailSandboxConfig(webhook_url=receiver.url)) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
