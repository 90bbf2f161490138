"""What stands in front of every sandbox API call: auth, rate limits, fault injection.

Auth: the ``access_token`` header must equal the configured sandbox key; a production key
(``$aact_prod_…``) is refused like on Asaas (401 ``invalid_access_token``).
Rate limits (reference §3): the 12 h quota, at most 50 concurrent GETs, and an optional
per-endpoint window that reports ``RateLimit-Limit/-Remaining/-Reset``.
Faults are a Tridium sandbox extension (``POST /v3/sandbox/faults``), never Asaas
behaviour: answer 429 to the next calls, fail calls with a 5xx before processing, or drop
the response of a call *after* it was committed (the "did my create happen?" case).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .config import SandboxConfig
from .store import LOG_PREFIX, ApiError

logger = logging.getLogger("tridium.sandbox.asaas")

Handler = Callable[[Request], Awaitable[Response]]
ErrorRenderer = Callable[[ApiError], Response]


@dataclass
class FaultRule:
    """Applies to the next ``count`` calls matching ``method`` and route ``path``
    (``None`` matches any)."""

    count: int
    method: str | None = None
    path: str | None = None
    status: int = 503
    reset_s: int = 1

    def take(self, method: str, path: str) -> bool:
        if self.count <= 0 or (self.method and self.method != method):
            return False
        if self.path and self.path != path:
            return False
        self.count -= 1
        return True


@dataclass
class Faults:
    drop_response: list[FaultRule] = field(default_factory=list)
    server_error: list[FaultRule] = field(default_factory=list)
    rate_limit: list[FaultRule] = field(default_factory=list)

    @staticmethod
    def take(rules: list[FaultRule], method: str, path: str) -> FaultRule | None:
        return next((r for r in rules if r.take(method, path)), None)


class DroppedResponse(Response):
    """Start a response, send part of it, and hang up: the client sees the connection
    reset after the server already committed the change."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"object"', "more_body": True})


@dataclass
class _Window:
    started: float
    count: int = 0


class Guard:
    def __init__(self, config: SandboxConfig, render_error: ErrorRenderer) -> None:
        self._config = config
        self._render_error = render_error
        self.faults = Faults()
        self._quota = _Window(time.monotonic())
        self._windows: dict[str, _Window] = {}
        self._gets_in_flight = 0

    def _authorised(self, request: Request) -> bool:
        token = request.headers.get("access_token", "")
        return bool(token) and token == self._config.access_token

    def _too_many(self, reset_s: float, limit: int | None = None) -> Response:
        response = self._render_error(
            ApiError(429, "rate_limit_exceeded", "Limite de requisições excedido.")  # guess
        )
        response.headers["RateLimit-Limit"] = str(limit or 0)
        response.headers["RateLimit-Remaining"] = "0"
        response.headers["RateLimit-Reset"] = str(max(1, math.ceil(reset_s)))
        return response

    @staticmethod
    def _roll(window: _Window, length: float, now: float) -> None:
        if now - window.started >= length:
            window.started, window.count = now, 0

    async def __call__(self, request: Request, route: str, handler: Handler) -> Response:
        method = request.method
        if not self._authorised(request):
            return self._render_error(ApiError(401, "invalid_access_token", "A chave de API fornecida é inválida"))
        if method == "GET" and (
            request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
        ):
            return self._render_error(ApiError(403, "invalid_request", "GET method calls must have an empty body"))
        extension = route.startswith(("/v3/sandbox/clock", "/v3/sandbox/faults"))
        limit_headers: dict[str, str] = {}
        if not extension:
            if rule := Faults.take(self.faults.rate_limit, method, route):
                logger.warning("%s fault: 429 for %s %s", LOG_PREFIX, method, route)
                return self._too_many(rule.reset_s)
            now = time.monotonic()
            self._roll(self._quota, self._config.quota_window_s, now)
            self._quota.count += 1
            if self._quota.count > self._config.quota_requests:
                reset = self._quota.started + self._config.quota_window_s - now
                return self._too_many(reset, self._config.quota_requests)
            if (limit := self._config.endpoint_rate_limit) is not None:
                length = self._config.endpoint_rate_window_s
                window = self._windows.setdefault(f"{method} {route}", _Window(now))
                self._roll(window, length, now)
                window.count += 1
                reset = window.started + length - now
                if window.count > limit:
                    return self._too_many(reset, limit)
                limit_headers = {
                    "RateLimit-Limit": str(limit),
                    "RateLimit-Remaining": str(limit - window.count),
                    "RateLimit-Reset": str(max(1, math.ceil(reset))),
                }
            if method == "GET" and self._gets_in_flight >= self._config.max_concurrent_gets:
                return self._too_many(1)
            if rule := Faults.take(self.faults.server_error, method, route):
                logger.warning("%s fault: %d for %s %s", LOG_PREFIX, rule.status, method, route)
                return Response(status_code=rule.status)
        self._gets_in_flight += method == "GET"
        try:
            response = await handler(request)
        except ApiError as exc:
            response = self._render_error(exc)
        finally:
            self._gets_in_flight -= method == "GET"
        if not extension and Faults.take(self.faults.drop_response, method, route):
            logger.warning(
                "%s fault: %s %s committed (%d), response dropped",
                LOG_PREFIX,
                method,
                route,
                response.status_code,
            )
            return DroppedResponse()
        response.headers.update(limit_headers)
        return response


__all__ = ["DroppedResponse", "FaultRule", "Faults", "Guard"]
