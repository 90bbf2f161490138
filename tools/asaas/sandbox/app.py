"""The sandbox HTTP app: Asaas v3 paths and shapes over the in-memory store.

Routes are thin: parse, call the domain module (``customers``, ``payments``, ``dunnings``,
``webhooks``), render. Every ``/v3`` route passes through ``Guard`` (auth, rate limits,
faults). Paths under ``/v3/sandbox/clock``, ``/v3/sandbox/faults`` and
``/v3/sandbox/paymentDunnings`` are Tridium extensions, not Asaas;
``/v3/sandbox/payment/{id}/confirm|overdue`` are Asaas's own sandbox actions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import customers, dunnings, payments, webhooks
from .config import SANDBOX_NAME, SandboxConfig
from .guard import FaultRule, Guard, Handler
from .store import LOG_PREFIX, ApiError, PaymentRec, Store, dumps

logger = logging.getLogger("tridium.sandbox.asaas")
MAX_LIMIT = 100


def ok(data: Any, status: int = 200) -> Response:
    return Response(dumps(data), status_code=status, media_type="application/json")


def error_response(exc: ApiError) -> Response:
    if exc.status == 404:
        return Response(status_code=404)  # Asaas declares no body for 404
    return ok({"errors": [{"code": exc.code, "description": exc.description}]}, exc.status)


async def read_form(request: Request) -> tuple[dict[str, str], list[str]]:
    """A multipart/form-data (or urlencoded) body: its plain fields and the names of its
    ``documents`` files. A JSON body is accepted too, as its top-level strings."""
    if request.headers.get("content-type", "").startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        async with request.form() as form:
            items = form.multi_items()
            fields = {k: v for k, v in items if isinstance(v, str)}
            files = [v.filename or "document" for k, v in items if k == "documents" and not isinstance(v, str)]
        return fields, files
    body = await read_body(request)
    return {k: str(v) for k, v in body.items() if isinstance(v, str | int | Decimal) and not isinstance(v, bool)}, []


async def read_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw, parse_float=Decimal)
    except ValueError:
        raise ApiError(400, "invalid_object", "JSON inválido.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_object", "JSON inválido.")
    return data


def page(request: Request, items: list[Any], render: Callable[[Any], Any]) -> Response:
    """The list envelope; ``limit`` defaults to 10 and is capped at 100."""
    try:
        offset = max(0, int(request.query_params.get("offset", 0)))
        limit = min(MAX_LIMIT, max(1, int(request.query_params.get("limit", 10))))
    except ValueError:
        raise ApiError(400, "invalid_object", "offset/limit inválidos.") from None
    chunk = items[offset : offset + limit]
    return ok(
        {
            "object": "list",
            "hasMore": offset + len(chunk) < len(items),
            "totalCount": len(items),
            "limit": limit,
            "offset": offset,
            "data": [render(i) for i in chunk],
        }
    )


class SandboxHeaders:
    """Every response says it is simulated: ``X-Sandbox`` and ``Server``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"x-sandbox", SANDBOX_NAME.encode()), (b"server", SANDBOX_NAME.encode())]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_marked if scope["type"] == "http" else send)


class Sandbox:
    """What one running sandbox owns: config, store, guard, webhook dispatcher, loops."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.store = Store(seed=config.seed)
        self.guard = Guard(config, error_response)
        self.dispatcher: webhooks.Dispatcher | None = None
        self._http: httpx.AsyncClient | None = None
        self._loops: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        path = self.config.state_path
        if path is not None and path.exists():
            raw = await asyncio.to_thread(path.read_bytes)
            self.store = Store(Store.load_json(raw), seed=self.config.seed)
            logger.info("%s state loaded from %s", LOG_PREFIX, path)
        self._http = httpx.AsyncClient(follow_redirects=False)
        self.dispatcher = webhooks.Dispatcher(self.store, self.config, self._http)
        self._loops.append(asyncio.create_task(self._tick_loop(), name="asaas-sandbox-tick"))
        if path is not None:
            self._loops.append(asyncio.create_task(self._flush_loop(), name="asaas-sandbox-flush"))
        if self.store.state.webhooks:
            self.dispatcher.wake()
        logger.warning(
            "%s Tridium Asaas SANDBOX (a simulator, not Asaas) serving at %s",
            LOG_PREFIX,
            self.config.public_url,
        )

    async def stop(self) -> None:
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.dispatcher is not None:
            await self.dispatcher.close()
        if self._http is not None:
            await self._http.aclose()
        await self._flush()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.tick_interval_s)
            payments.tick(self.store, self.config)

    async def _flush(self) -> None:
        if self.config.state_path is None or not self.store.dirty:
            return
        data, target = self.store.dump_json(), self.config.state_path
        self.store.dirty = False
        tmp = target.with_suffix(target.suffix + ".tmp")
        await asyncio.to_thread(tmp.write_bytes, data)
        await asyncio.to_thread(tmp.replace, target)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await self._flush()

    # --- customers ------------------------------------------------------------------

    async def create_customer(self, request: Request) -> Response:
        return ok(customers.render(customers.create(self.store, await read_body(request))))

    async def list_customers(self, request: Request) -> Response:
        found = customers.search(self.store, dict(request.query_params))
        return page(request, found, customers.render)

    async def get_customer(self, request: Request) -> Response:
        return ok(customers.render(customers.get(self.store, request.path_params["id"])))

    async def delete_customer(self, request: Request) -> Response:
        return ok(customers.delete(self.store, request.path_params["id"]))

    # --- payments -------------------------------------------------------------------

    def _payment(self, rec: PaymentRec) -> Response:
        return ok(payments.render(self.config, rec))

    async def create_payment(self, request: Request) -> Response:
        body = await read_body(request)
        return self._payment(payments.create(self.store, self.config, body))

    async def list_payments(self, request: Request) -> Response:
        found = payments.search(self.store, dict(request.query_params))
        return page(request, found, lambda p: payments.render(self.config, p))

    async def get_payment(self, request: Request) -> Response:
        return self._payment(payments.get(self.store, request.path_params["id"]))

    async def update_payment(self, request: Request) -> Response:
        body = await read_body(request)
        pid = request.path_params["id"]
        return self._payment(payments.update(self.store, self.config, pid, body))

    async def delete_payment(self, request: Request) -> Response:
        return ok(payments.delete(self.store, self.config, request.path_params["id"]))

    async def restore_payment(self, request: Request) -> Response:
        return self._payment(payments.restore(self.store, self.config, request.path_params["id"]))

    async def payment_status(self, request: Request) -> Response:
        return ok({"status": payments.get(self.store, request.path_params["id"]).status})

    async def refund_payment(self, request: Request) -> Response:
        body = await read_body(request)
        pid = request.path_params["id"]
        return self._payment(payments.refund(self.store, self.config, pid, body))

    async def pix_qr_code(self, request: Request) -> Response:
        return ok(payments.pix_qr_code(self.store, request.path_params["id"]))

    async def identification_field(self, request: Request) -> Response:
        return ok(payments.identification_field(self.store, request.path_params["id"]))

    async def pay_with_credit_card(self, request: Request) -> Response:
        body = await read_body(request)
        pid = request.path_params["id"]
        return self._payment(payments.pay_with_card(self.store, self.config, pid, body))

    async def tokenize(self, request: Request) -> Response:
        return ok(payments.tokenize(self.store, await read_body(request)))

    async def sandbox_confirm(self, request: Request) -> Response:
        return self._payment(payments.confirm(self.store, self.config, request.path_params["id"]))

    async def sandbox_overdue(self, request: Request) -> Response:
        pid = request.path_params["id"]
        return self._payment(payments.force_overdue(self.store, self.config, pid))

    # --- dunnings (negativação) --------------------------------------------------------

    async def create_dunning(self, request: Request) -> Response:
        fields, documents = await read_form(request)
        return ok(dunnings.render(dunnings.create(self.store, self.config, fields, documents)))

    async def list_dunnings(self, request: Request) -> Response:
        return page(request, dunnings.search(self.store, dict(request.query_params)), dunnings.render)

    async def get_dunning(self, request: Request) -> Response:
        return ok(dunnings.render(dunnings.get(self.store, request.path_params["id"])))

    async def simulate_dunning(self, request: Request) -> Response:
        return ok(dunnings.simulate(self.store, self.config, request.query_params.get("payment")))

    async def cancel_dunning(self, request: Request) -> Response:
        return ok(dunnings.render(dunnings.cancel(self.store, self.config, request.path_params["id"])))

    async def sandbox_advance_dunning(self, request: Request) -> Response:
        return ok(dunnings.render(dunnings.advance(self.store, self.config, request.path_params["id"])))

    async def sandbox_receive_dunning(self, request: Request) -> Response:
        return ok(dunnings.render(dunnings.receive(self.store, self.config, request.path_params["id"])))

    # --- webhooks -------------------------------------------------------------------

    async def create_webhook(self, request: Request) -> Response:
        rec = webhooks.create(self.store, await read_body(request))
        return ok(webhooks.render(self.store, rec))

    async def list_webhooks(self, request: Request) -> Response:
        found = sorted(self.store.state.webhooks.values(), key=lambda w: w.created_at)
        return page(request, found, lambda w: webhooks.render(self.store, w))

    async def get_webhook(self, request: Request) -> Response:
        return ok(webhooks.render(self.store, webhooks.get(self.store, request.path_params["id"])))

    async def update_webhook(self, request: Request) -> Response:
        rec = webhooks.update(self.store, request.path_params["id"], await read_body(request))
        self._wake(rec.id)
        return ok(webhooks.render(self.store, rec))

    async def remove_backoff(self, request: Request) -> Response:
        webhooks.remove_backoff(self.store, request.path_params["id"])
        self._wake(request.path_params["id"])
        return Response(status_code=204)

    async def delete_webhook(self, request: Request) -> Response:
        return ok(webhooks.delete(self.store, request.path_params["id"]))

    def _wake(self, webhook_id: str | None = None) -> None:
        if self.dispatcher is not None:
            self.dispatcher.wake(webhook_id)

    # --- Tridium sandbox extensions (not Asaas) ---------------------------------------

    def _clock(self) -> dict[str, Any]:
        now = self.store.now()
        return {
            "now": now.isoformat(),
            "today": now.date().isoformat(),
            "offsetSeconds": self.store.state.clock_offset_s,
            "simulated": True,
        }

    async def get_clock(self, request: Request) -> Response:
        return ok(self._clock())

    async def advance_clock(self, request: Request) -> Response:
        """Move the sandbox clock forward and fire what became due (OVERDUE, credits)."""
        body = await read_body(request)
        try:
            seconds = (
                float(body.get("days", 0)) * 86400 + float(body.get("hours", 0)) * 3600 + float(body.get("seconds", 0))
            )
        except (TypeError, ValueError):
            raise ApiError(400, "invalid_object", "days/hours/seconds must be numbers") from None
        if seconds < 0:
            raise ApiError(400, "invalid_object", "the sandbox clock only moves forward")
        self.store.advance(seconds)
        changed = payments.tick(self.store, self.config)
        self._wake()  # penalty waits are measured on this clock too
        logger.info("%s clock advanced %.0fs; %d payments changed", LOG_PREFIX, seconds, changed)
        return ok({**self._clock(), "changedPayments": changed})

    async def set_faults(self, request: Request) -> Response:
        body = await read_body(request)
        for key, rules in (
            ("dropResponse", self.guard.faults.drop_response),
            ("serverError", self.guard.faults.server_error),
            ("rateLimit", self.guard.faults.rate_limit),
        ):
            given = body.get(key) or []
            for spec in given if isinstance(given, list) else [given]:
                rules.append(
                    FaultRule(
                        count=int(spec.get("count", 1)),
                        method=spec.get("method"),
                        path=spec.get("path"),
                        status=int(spec.get("status", 503)),
                        reset_s=int(spec.get("resetSeconds", 1)),
                    )
                )
        logger.warning("%s faults armed: %s", LOG_PREFIX, body)
        return ok({"armed": body, "simulated": True})

    async def clear_faults(self, request: Request) -> Response:
        self.guard.faults.drop_response.clear()
        self.guard.faults.server_error.clear()
        self.guard.faults.rate_limit.clear()
        return Response(status_code=204)

    # --- pages the API links to (unauthenticated, like Asaas's invoice pages) ---------

    async def invoice_page(self, request: Request) -> Response:
        pid = "pay_" + request.path_params["id"].removeprefix("pay_")
        rec = self.store.state.payments.get(pid)
        if rec is None:
            return HTMLResponse("<h1>Tridium Asaas SANDBOX</h1><p>Not found.</p>", 404)
        return HTMLResponse(
            "<!doctype html><title>SANDBOX invoice</title>"
            "<h1>Tridium Asaas SANDBOX — simulated invoice, no real money</h1>"
            f"<p>{rec.id}: {rec.billing_type} R$ {rec.value:.2f}, status {rec.status}, "
            f"due {rec.due_date.isoformat()}</p>"
        )

    async def info(self, request: Request) -> Response:
        return ok(
            {
                "name": SANDBOX_NAME,
                "simulated": True,
                "description": "Local simulator of the Asaas v3 API for Tridium; not Asaas.",
                "timeScale": self.config.time_scale,
                "duplicateRate": self.config.duplicate_rate,
            }
        )


def _routes(sandbox: Sandbox) -> list[Route]:
    def api(path: str, handler: Handler, *methods: str) -> Route:
        async def endpoint(request: Request) -> Response:
            return await sandbox.guard(request, path, handler)

        return Route(path, endpoint, methods=list(methods))

    s = sandbox
    return [
        Route("/", s.info, methods=["GET"]),
        Route("/i/{id}", s.invoice_page, methods=["GET"]),
        Route("/b/pdf/{id}", s.invoice_page, methods=["GET"]),
        Route("/comprovantes/{id}", s.invoice_page, methods=["GET"]),
        api("/v3/customers", s.create_customer, "POST"),
        api("/v3/customers", s.list_customers, "GET"),
        api("/v3/customers/{id}", s.get_customer, "GET"),
        api("/v3/customers/{id}", s.delete_customer, "DELETE"),
        api("/v3/payments", s.create_payment, "POST"),
        api("/v3/payments/", s.create_payment, "POST"),  # the spec's card twin
        api("/v3/payments", s.list_payments, "GET"),
        api("/v3/payments/{id}", s.get_payment, "GET"),
        api("/v3/payments/{id}", s.update_payment, "PUT", "POST"),
        api("/v3/payments/{id}", s.delete_payment, "DELETE"),
        api("/v3/payments/{id}/restore", s.restore_payment, "POST"),
        api("/v3/payments/{id}/status", s.payment_status, "GET"),
        api("/v3/payments/{id}/refund", s.refund_payment, "POST"),
        api("/v3/payments/{id}/pixQrCode", s.pix_qr_code, "GET"),
        api("/v3/payments/{id}/identificationField", s.identification_field, "GET"),
        api("/v3/payments/{id}/payWithCreditCard", s.pay_with_credit_card, "POST"),
        api("/v3/creditCard/tokenizeCreditCard", s.tokenize, "POST"),
        api("/v3/creditCard/tokenize", s.tokenize, "POST"),
        api("/v3/sandbox/payment/{id}/confirm", s.sandbox_confirm, "POST"),
        api("/v3/sandbox/payment/{id}/overdue", s.sandbox_overdue, "POST"),
        api("/v3/paymentDunnings", s.create_dunning, "POST"),
        api("/v3/paymentDunnings", s.list_dunnings, "GET"),
        api("/v3/paymentDunnings/simulate", s.simulate_dunning, "POST"),
        api("/v3/paymentDunnings/{id}", s.get_dunning, "GET"),
        api("/v3/paymentDunnings/{id}/cancel", s.cancel_dunning, "POST"),
        api("/v3/sandbox/paymentDunnings/{id}/advance", s.sandbox_advance_dunning, "POST"),
        api("/v3/sandbox/paymentDunnings/{id}/receive", s.sandbox_receive_dunning, "POST"),
        api("/v3/webhooks", s.create_webhook, "POST"),
        api("/v3/webhooks", s.list_webhooks, "GET"),
        api("/v3/webhooks/{id}", s.get_webhook, "GET"),
        api("/v3/webhooks/{id}", s.update_webhook, "PUT", "POST"),
        api("/v3/webhooks/{id}", s.delete_webhook, "DELETE"),
        api("/v3/webhooks/{id}/removeBackoff", s.remove_backoff, "POST"),
        api("/v3/sandbox/clock", s.get_clock, "GET"),
        api("/v3/sandbox/clock/advance", s.advance_clock, "POST"),
        api("/v3/sandbox/faults", s.set_faults, "POST"),
        api("/v3/sandbox/faults", s.clear_faults, "DELETE"),
    ]


def create_app(config: SandboxConfig | None = None) -> Starlette:
    """Build the sandbox ASGI app. No I/O happens until the app's lifespan starts."""
    sandbox = Sandbox(config or SandboxConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await sandbox.start()
        try:
            yield
        finally:
            await sandbox.stop()

    app = Starlette(routes=_routes(sandbox), lifespan=lifespan)
    app.state.sandbox = sandbox
    app.add_middleware(SandboxHeaders)
    return app


__all__ = ["Sandbox", "create_app"]
