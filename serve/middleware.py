"""The edge of every request, as one pure-ASGI middleware (cheaper than BaseHTTPMiddleware).

In order: request id → body size limit → authentication of a bearer token (if any) →
rate limit (per token when authenticated, else per client IP) → handler → metrics and an
access log line. Errors raised here are rendered by ``serve.errors`` like any other.

With ``settings.webhook_lean_ingress`` the provider webhooks take a lean path (ADR 0006):
their per-IP budget is counted in-process and the handler is called directly
(``serve.webhooks.lean``), past FastAPI's routing and dependencies.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import PayloadTooLarge, RateLimited, TridiumError, Unauthorized
from core.logging import request_id_var
from core.telemetry import tracer

from .errors import from_tridium_error
from .state import AppState
from .webhooks.lean import LEAN_ROUTES

log = logging.getLogger("tridium.access")
_tracer = tracer("tridium.gateway")


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, body_limits: dict[str, int] | None = None):
        self.app = app
        # Longest prefix wins; everything else gets settings.max_body_bytes.
        self.body_limits = sorted((body_limits or {}).items(), key=lambda kv: -len(kv[0]))

    def _limit_for(self, path: str, default: int) -> int:
        for prefix, limit in self.body_limits:
            if path.startswith(prefix):
                return limit
        return default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: AppState = scope["app"].state.tridium
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        rid = headers.get("x-request-id") or uuid.uuid4().hex
        if len(rid) > 128:
            rid = rid[:128]
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status_holder = {"status": 500}
        extra_headers: list[tuple[bytes, bytes]] = [(b"x-request-id", rid.encode())]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra_headers
            await send(message)

        span = _tracer.start_span(f"{scope['method']} {scope['path']}", kind=SpanKind.SERVER)
        span.set_attribute("http.request.method", scope["method"])
        span.set_attribute("tridium.request_id", rid)
        try:
            limit = self._limit_for(scope["path"], state.settings.max_body_bytes)
            declared = headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > limit):
                raise PayloadTooLarge(f"request body exceeds {limit} bytes", details={"limit_bytes": limit})
            receive = _capped_receive(receive, limit)
            with trace.use_span(span, end_on_exit=False):
                await self._authenticate_and_limit(scope, headers, state, extra_headers)
                lean = LEAN_ROUTES.get((scope["method"], scope["path"]))
                if lean is not None and state.settings.webhook_lean_ingress:
                    await lean(scope, receive, send_wrapper, state)
                else:
                    await self.app(scope, receive, send_wrapper)
        except TridiumError as exc:
            await from_tridium_error(exc)(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            status = str(status_holder["status"])
            state.metrics.latency.labels(scope["method"], route, status).observe(elapsed)
            if status_holder["status"] >= 400:
                state.metrics.errors.labels(scope["method"], route, status).inc()
            span.update_name(f"{scope['method']} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status_holder["status"])
            span.end()
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status_holder["status"],
                        "ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)

    async def _authenticate_and_limit(
        self, scope: Scope, headers: dict[str, str], state: AppState, extra: list[tuple[bytes, bytes]]
    ) -> None:
        settings = state.settings
        auth = headers.get("authorization")
        scope.setdefault("state", {})
        if auth is not None:
            scheme, _, credentials = auth.partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise Unauthorized("Authorization must be 'Bearer <token>'")
            principal = await state.verifier.verify(credentials.strip())
            scope["state"]["principal"] = principal
            bucket, limit, kind = principal.token_fingerprint, settings.rate_limit_authenticated, "token"
        elif scope["path"].startswith("/webhooks/"):
            # Providers deliver bursts from a few IPs: their own, much higher per-IP budget.
            bucket, limit, kind = _client_ip(scope, headers), settings.rate_limit_webhooks, "webhook"
        else:
            bucket, limit, kind = _client_ip(scope, headers), settings.rate_limit_public, "ip"
        limiter = state.webhook_limiter if kind == "webhook" and state.webhook_limiter else state.limiter
        decision = await limiter.hit(bucket, limit, kind)
        if decision is None:
            return
        extra.extend((k.lower().encode(), v.encode()) for k, v in decision.headers().items())
        if not decision.allowed:
            state.metrics.rate_limited.labels(kind).inc()
            raise RateLimited(
                f"rate limit of {limit} requests per {decision.window_s}s exceeded",
                details={"limit": limit, "window_s": decision.window_s, "retry_after_s": decision.reset_s},
            )


def _client_ip(scope: Scope, headers: dict[str, str]) -> str:
    # Behind a trusted proxy, run uvicorn/Serve with forwarded-allow-ips so that
    # scope["client"] is already the real client; we never trust X-Forwarded-For here.
    client: Any = scope.get("client")
    return str(client[0]) if client else "unknown"


def _capped_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(f"request body exceeds {limit} bytes", details={"limit_bytes": limit})
        return message

    return wrapped


__all__ = ["EdgeMiddleware"]
