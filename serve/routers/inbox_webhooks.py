"""Channel webhooks: WhatsApp Cloud API (GET handshake + signed POST). Thin: each route
calls ``tools.inbox.ingest`` with the channel's verifier and parser.

The URL carries the tenant (``/webhooks/whatsapp/{tenant_id}``, set per tenant in the Meta
app dashboard); the signature is checked against that tenant's WhatsApp accounts' app
secrets before anything is stored. Meta retries any non-200 delivery, so a delivery for a
phone-number id the tenant does not have is answered 200 with ``ignored`` (acknowledged,
not processed) rather than 404.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import PlainTextResponse

from core.errors import Forbidden
from core.tenancy import TenantId
from db.pool import tenant_tx
from tools import inbox
from tools.channels import whatsapp
from tools.channels.meta import verify_challenge

from ..deps import State
from ..inbox.schemas import WebhookAck

router = APIRouter(tags=["inbox"])


@router.get(
    "/webhooks/whatsapp/{tenant_id}",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "the hub.challenge, echoed"}},
)
async def whatsapp_verify(
    tenant_id: UUID,
    request: Request,
    state: State,
    hub_mode: Annotated[str | None, Query(alias="hub.mode", max_length=40)] = None,
    hub_verify_token: Annotated[str | None, Query(alias="hub.verify_token", max_length=400)] = None,
    hub_challenge: Annotated[str | None, Query(alias="hub.challenge", max_length=400)] = None,
) -> PlainTextResponse:
    """Meta's subscription handshake: echo ``hub.challenge`` when ``hub.verify_token`` is the
    verify token of one of the tenant's WhatsApp accounts (403 otherwise)."""
    box: inbox.SecretBox = request.app.state.inbox_box
    async with tenant_tx(state.pool, TenantId(tenant_id)) as conn:
        accounts = await inbox.active_accounts(conn, TenantId(tenant_id), "whatsapp", box)
    tokens = [a.secret("verify_token") for a in accounts if "verify_token" in a.secrets]
    if not verify_challenge(hub_mode, hub_verify_token, tokens) or not hub_challenge:
        raise Forbidden("webhook verification failed")
    return PlainTextResponse(hub_challenge)


@router.post(
    "/webhooks/whatsapp/{tenant_id}",
    response_model=WebhookAck,
    responses={
        400: {"description": "not a WhatsApp webhook body (recorded in error_logs)"},
        401: {"description": "missing or wrong X-Hub-Signature-256 (nothing stored)"},
    },
)
async def whatsapp_webhook(
    tenant_id: UUID,
    request: Request,
    state: State,
    x_hub_signature_256: Annotated[str | None, Header(description="sha256=<HMAC of the raw body>")] = None,
) -> WebhookAck:
    """WhatsApp Cloud API deliveries (messages and status callbacks). Answered 200 only after
    every item is committed; a duplicate delivery answers 200 and stores nothing."""
    body = await request.body()
    box: inbox.SecretBox = request.app.state.inbox_box
    accepted = await inbox.ingest(
        state.pool,
        box,
        TenantId(tenant_id),
        channel="whatsapp",
        body=body,
        authenticate=lambda raw, accounts: whatsapp.authenticate(raw, x_hub_signature_256, accounts),
        parse=whatsapp.parse_webhook,
    )
    state.metrics.count_webhook("whatsapp", stored=accepted.stored, duplicates=accepted.duplicates)
    return WebhookAck(
        received=True,
        stored=accepted.stored,
        duplicates=accepted.duplicates,
        ignored=accepted.ignored,
        ignored_accounts=list(accepted.ignored_accounts),
    )
