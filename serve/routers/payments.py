"""Payments (Asaas): checkout intents, card confirmation, listing, the Asaas webhook and
its provisioning. Thin: each route calls ``tools.payments``."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query, Request

from db import payments as q
from db.pool import tenant_tx
from tools import payments
from tools.asaas import WebhookSendType
from tools.payments import AsaasAccounts

from ..deps import AdminTenant, Idempotent, State, Tenant
from ..payments_schemas import (
    ConfirmIn,
    ConfirmOut,
    IntentIn,
    IntentOut,
    IntentPage,
    WebhookAck,
    WebhookProvisionIn,
    WebhookProvisionOut,
    card_models,
)

router = APIRouter(tags=["payments"])


def _accounts(request: Request) -> AsaasAccounts:
    accounts: AsaasAccounts = request.app.state.asaas
    return accounts


@router.post(
    "/payments/asaas/intent",
    response_model=IntentOut,
    status_code=201,
    responses={
        402: {"description": "not used here"},
        502: {"description": "Asaas refused our request or our key"},
        503: {"description": "Asaas unreachable: retry with the same Idempotency-Key"},
        504: {"description": "Asaas outcome unknown: retry with the same Idempotency-Key (never duplicates)"},
    },
)
async def create_intent(
    body: IntentIn,
    request: Request,
    ctx: Tenant,
    idem: Idempotent,
) -> object:
    """Create a Pix, boleto or card charge on Asaas for a lead/deal. The same
    Idempotency-Key replays the first answer and never creates a second Asaas payment."""
    # The Idempotent dependency has validated the key; the same key gives the same intent.
    key = request.headers["idempotency-key"].strip()
    intent_id = payments.intent_id_for(ctx.tenant_id, ctx.principal.user_id, key)
    req = payments.IntentRequest(
        amount=body.amount,
        method=body.method,
        customer=payments.CustomerData(
            name=body.customer.name,
            cpf_cnpj=body.customer.cpfCnpj,
            email=str(body.customer.email) if body.customer.email else None,
            phone=body.customer.phone,
            postal_code=body.customer.postalCode,
            address=body.customer.address,
            address_number=body.customer.addressNumber,
            complement=body.customer.complement,
            province=body.customer.province,
        ),
        lead_id=body.meta.lead_id,
        deal_id=body.meta.deal_id,
        description=body.description,
        due_in_days=body.dueInDays,
    )
    accounts = _accounts(request)
    return await idem.respond(201, lambda conn: payments.create_intent(conn, ctx.tenant_id, intent_id, req, accounts))


@router.post(
    "/payments/asaas/confirm",
    response_model=ConfirmOut,
    responses={402: {"description": "card declined (code card_declined, Asaas's reason in details)"}},
)
async def confirm_card(body: ConfirmIn, request: Request, ctx: Tenant, idem: Idempotent) -> object:
    """Pay a card intent with a card token, or card data + holder + the buyer's remoteIp."""
    pay = payments.CardPayment(
        intent_id=body.intentId,
        remote_ip=body.remoteIp,
        card_token=body.creditCardToken,
        **card_models(body),
    )
    accounts = _accounts(request)
    return await idem.respond(200, lambda conn: payments.confirm_card(conn, ctx.tenant_id, pay, accounts))


@router.get("/payments/{intent_id}", response_model=IntentOut)
async def get_intent(intent_id: UUID, state: State, ctx: Tenant) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        return payments.intent_view(await q.get_intent(conn, ctx.tenant_id, intent_id))


@router.get("/payments", response_model=IntentPage)
async def list_intents(
    state: State,
    ctx: Tenant,
    status: Annotated[str | None, Query(max_length=40, pattern=r"^[A-Z_]+$")] = None,
    from_: Annotated[date | None, Query(alias="from", description="created on or after (date)")] = None,
    to: Annotated[date | None, Query(description="created on or before (date)")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, object]:
    async with tenant_tx(state.pool, ctx.tenant_id) as conn:
        page = await q.list_intents(
            conn, ctx.tenant_id, limit=limit, cursor=cursor, status=status, created_from=from_, created_to=to
        )
    return {"items": [payments.intent_view(i) for i in page["items"]], "next_cursor": page["next_cursor"]}


@router.post(
    "/webhooks/asaas",
    response_model=WebhookAck,
    responses={401: {"description": "wrong or missing asaas-access-token (nothing stored)"}},
)
async def asaas_webhook(
    request: Request,
    state: State,
    asaas_access_token: Annotated[str | None, Header(description="the per-tenant webhook token")] = None,
) -> WebhookAck:
    """Asaas delivers events here. Answered 200 only after the raw event is committed;
    a duplicate answers 200 and changes nothing; reconciliation runs asynchronously."""
    body = await request.body()
    ingested = await payments.ingest(
        state.webhook_pool or state.pool,
        asaas_access_token,
        body,
        request.app.state.webhook_tokens,
        one_call=state.settings.webhook_one_call,
        batcher=state.webhook_batcher,
    )
    state.metrics.webhook_deliveries.labels("asaas", "duplicate" if ingested.duplicate else "stored").inc()
    return WebhookAck(received=True, duplicate=ingested.duplicate)


@router.post("/admin/integrations/asaas/webhook", response_model=WebhookProvisionOut, tags=["admin"])
async def provision_webhook(
    body: WebhookProvisionIn, request: Request, state: State, ctx: AdminTenant
) -> dict[str, object]:
    """Create or update the tenant's Asaas webhook (URL, events, a new token, send type),
    resume a queue Asaas interrupted after 15 failed deliveries, and set the tenant's dunning
    policy (``dunningPolicy``) when given."""
    url = body.url or str(request.url_for("asaas_webhook"))
    email = str(body.email) if body.email else (ctx.principal.email or "ops@tridium.local")
    return await payments.provision_webhook(
        state.pool,
        ctx.tenant_id,
        _accounts(request),
        url=url,
        email=email,
        send_type=WebhookSendType(body.sendType),
        events=body.events,
        rotate_token=body.rotateToken,
        dunning_policy=payments.DunningPolicy(**body.dunningPolicy.model_dump()) if body.dunningPolicy else None,
    )
