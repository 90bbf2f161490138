"""Lean ingress for provider webhooks (ADR 0006).

A webhook delivery needs none of what FastAPI's machinery does for the API: no bearer
token, no tenant header, no dependency graph, no response model. ``EdgeMiddleware``
hands ``POST /webhooks/asaas`` straight to :func:`asaas_webhook` after its own steps
(request id, body cap, per-IP budget, metrics, access log, span), so a delivery skips
the route table scan, dependency resolution and the thread-pool hop. The guarantees are
the route's, because the work is the same call: ``tools.payments.ingest`` authenticates
by the per-tenant token (tenant from the token, ADR 0004), stores the raw event and its
outbox event in one committed transaction, and only then is 200 sent; a duplicate is 200
with ``duplicate: true``; errors are the project's error shape via ``serve.errors``.

The FastAPI route (``serve.routers.payments.asaas_webhook``) stays: it is the OpenAPI
contract and the path taken with ``TRIDIUM_WEBHOOK_LEAN_INGRESS=false``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from tools import payments

from ..state import AppState

LeanHandler = Callable[[Scope, Receive, Send, AppState], Awaitable[None]]


class _Route:
    """What the metrics and access log read from ``scope["route"]``: the route template."""

    __slots__ = ("path",)

    def __init__(self, path: str):
        self.path = path


_ASAAS_ROUTE = _Route("/webhooks/asaas")
_JSON = [(b"content-type", b"application/json")]


async def _body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def asaas_webhook(scope: Scope, receive: Receive, send: Send, state: AppState) -> None:
    """``POST /webhooks/asaas`` without FastAPI: the same ``ingest`` call, the same answer
    (``WebhookAck`` as compact JSON), sent only after the commit."""
    scope["route"] = _ASAAS_ROUTE
    body = await _body(receive)
    app: Any = scope["app"]
    ingested = await payments.ingest(
        state.webhook_pool or state.pool,
        _header(scope, b"asaas-access-token"),
        body,
        app.state.webhook_tokens,
        one_call=state.settings.webhook_one_call,
        batcher=state.webhook_batcher,
    )
    state.metrics.webhook_deliveries.labels("asaas", "duplicate" if ingested.duplicate else "stored").inc()
    content = b'{"received":true,"duplicate":true}' if ingested.duplicate else b'{"received":true,"duplicate":false}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [*_JSON, (b"content-length", str(len(content)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": content})


LEAN_ROUTES: dict[tuple[str, str], LeanHandler] = {("POST", "/webhooks/asaas"): asaas_webhook}

__all__ = ["LEAN_ROUTES", "LeanHandler", "asaas_webhook"]
