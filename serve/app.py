"""The gateway's FastAPI app, identical under Ray Serve and plain uvicorn.

``build_fastapi(settings)`` returns the app; its lifespan creates the per-process pool,
Redis client and helpers and closes them on shutdown. Ray Serve wraps it in
``serve.deployments.Gateway``; the benchmark runs the same app under uvicorn.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis.asyncio as redis
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from core.logging import setup_logging
from core.settings import Settings
from core.telemetry import setup_tracing
from db.pool import create_pool
from tools.inbox import SecretBox
from tools.payments import AsaasAccounts, IngestBatcher, TokenHashCache

from .ads.wiring import build_ads
from .auth import TokenVerifier
from .errors import install_error_handlers
from .inbox.wiring import build_connectors
from .metrics import GatewayMetrics
from .middleware import EdgeMiddleware
from .ratelimit import LocalRateLimiter, RateLimiter
from .routers import (
    admin,
    ads,
    ads_sync,
    agents,
    ai_cost,
    audit,
    channels,
    console,
    creatives,
    crm,
    health,
    inbox,
    inbox_webhooks,
    kpi,
    me,
    payments,
    privacy,
    rag,
    widget,
)
from .schemas import ErrorBody
from .state import AppState, RelayProbe

API_VERSION = "0.1.0"

# Every route may answer these, always as {"error": {code, message, details}}.
ERROR_STATUSES = {
    "400": "Bad request (malformed JSON, missing Idempotency-Key)",
    "401": "Missing, invalid or expired bearer token",
    "403": "Not a member of the tenant, or the role does not allow it",
    "404": "Not found (including another tenant's ids)",
    "409": "Conflict (duplicate, or the same Idempotency-Key is in flight)",
    "413": "Body too large",
    "422": "Validation failed (field paths in details) or Idempotency-Key reused with another body",
    "429": "Rate limited (see Retry-After, RateLimit, RateLimit-Policy)",
}


def build_fastapi(settings: Settings, relay_probe: RelayProbe | None = None) -> FastAPI:
    setup_logging(settings.log_level)
    setup_tracing("tridium-gateway", settings.otel_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(
            settings.require_database_url(), min_size=settings.db_pool_min, max_size=settings.db_pool_max
        )
        # Webhook deliveries: one autocommit statement each, nothing session-level (ADR 0008).
        webhook_pool = None
        if settings.webhook_one_call:
            webhook_pool = await create_pool(
                settings.require_database_url(), min_size=1, max_size=settings.db_webhook_pool_max, reset_session=False
            )
        client = redis.from_url(settings.require_redis_url(), socket_timeout=2, socket_connect_timeout=2)
        app.state.tridium = AppState(
            settings=settings,
            pool=pool,
            redis=client,
            verifier=TokenVerifier(settings),
            limiter=RateLimiter(client, settings.rate_limit_window_s),
            metrics=GatewayMetrics(),
            relay_probe=relay_probe,
            webhook_limiter=LocalRateLimiter(settings.rate_limit_window_s) if settings.webhook_lean_ingress else None,
            webhook_pool=webhook_pool,
            webhook_batcher=(
                IngestBatcher(
                    webhook_pool,
                    max_batch=settings.webhook_batch_max,
                    max_in_flight=settings.webhook_batch_in_flight,
                    timeout_s=settings.webhook_store_timeout_s,
                )
                if webhook_pool is not None and settings.webhook_group_commit
                else None
            ),
        )
        # One HTTP client for every tenant's Asaas connector (tools.payments.AsaasAccounts).
        asaas_http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
        app.state.asaas = AsaasAccounts(asaas_http, user_agent=settings.asaas_user_agent)
        app.state.webhook_tokens = TokenHashCache()
        # Inbox: secrets of channel accounts, and connectors for reply-window checks (the
        # InboxWorker sends; the gateway never calls a channel provider).
        app.state.inbox_box = SecretBox(settings.channel_secrets_key)
        app.state.inbox_connectors = build_connectors(asaas_http, settings)
        # Ads: the three ad-platform connectors over the same client; each account's base_url
        # (a sandbox in tests and `make run`) decides where a call goes.
        app.state.ads = build_ads(asaas_http, app.state.inbox_box)
        try:
            yield
        finally:
            knowledge = getattr(app.state, "knowledge", None)  # serve.knowledge_runtime, built lazily
            if knowledge is not None:
                await knowledge.close()
            await asaas_http.aclose()
            await client.aclose()
            if app.state.tridium.webhook_batcher is not None:
                await app.state.tridium.webhook_batcher.aclose()
            if webhook_pool is not None:
                await webhook_pool.close()
            await pool.close()

    app = FastAPI(
        title="Tridium API",
        version=API_VERSION,
        description=(
            "Multi-tenant back end for Luddy, Lucy and Clio. Authenticate with "
            "`Authorization: Bearer <JWT>` and choose the tenant with `X-Tenant-Id` (uuid or slug). "
            'Errors are always `{"error": {"code", "message", "details"}}`.'
        ),
        lifespan=lifespan,
        responses={int(code): {"model": ErrorBody, "description": text} for code, text in ERROR_STATUSES.items()},
    )
    install_error_handlers(app)
    for router in (
        health.router,
        me.router,
        crm.router,
        admin.router,
        agents.router,
        audit.router,
        ai_cost.router,
        kpi.router,
        creatives.router,
        payments.router,
        privacy.router,
        rag.router,
        inbox.router,
        inbox_webhooks.router,
        channels.router,
        ads.router,
        ads_sync.router,
        widget.router,
        console.router,
    ):
        app.include_router(router)
    # Outermost first: CORS answers preflights before auth and rate limits see them.
    app.add_middleware(
        EdgeMiddleware,
        body_limits={
            "/rag/uploads": settings.kb_upload_max_bytes,
            "/webhooks/email/": settings.email_inbound_max_bytes,
        },
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Tenant-Id", "Last-Event-ID"],
        expose_headers=["RateLimit", "RateLimit-Policy", "Retry-After", "X-Request-Id", "Idempotent-Replayed"],
    )
    # The site widget's preflights: per-tenant origins are checked by serve.routers.widget.
    app.add_middleware(widget.WidgetPreflight)
    return app


__all__ = ["API_VERSION", "build_fastapi"]
