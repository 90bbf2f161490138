"""Provision a tenant's Asaas webhook: URL, events, a generated token, send type.

Idempotent: an existing webhook (by stored id, else by name on the account) is updated
rather than duplicated (Asaas allows 10 per account), re-enabled (``interrupted: false``)
and its penalty cleared, so calling this again after an outage resumes delivery of
everything queued. The token is generated here, sent to Asaas once and only its SHA-256 is
stored; it is rotated when asked or when we hold no hash for it. A ``dunning_policy`` given
here replaces the tenant's, in the same transaction that records the webhook.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from pydantic import SecretStr

from core.tenancy import TenantId
from db import payments as q
from db.events import emit
from db.pool import tenant_tx
from tools.asaas import AsaasNotFound, Webhook, WebhookCreate, WebhookSendType, WebhookUpdate

from .accounts import AsaasAccounts
from .errors import IntegrationMissing
from .policy import DunningPolicy
from .webhooks import new_webhook_token, token_hash

PAYMENT_EVENTS = [
    "PAYMENT_CREATED",
    "PAYMENT_UPDATED",
    "PAYMENT_CONFIRMED",
    "PAYMENT_RECEIVED",
    "PAYMENT_OVERDUE",
    "PAYMENT_DELETED",
    "PAYMENT_RESTORED",
    "PAYMENT_REFUNDED",
    "PAYMENT_PARTIALLY_REFUNDED",
    "PAYMENT_RECEIVED_IN_CASH_UNDONE",
    "PAYMENT_CHARGEBACK_REQUESTED",
    "PAYMENT_CHARGEBACK_DISPUTE",
    "PAYMENT_AWAITING_CHARGEBACK_REVERSAL",
    "PAYMENT_DUNNING_REQUESTED",
    "PAYMENT_DUNNING_RECEIVED",
]


def webhook_name(tenant_id: TenantId) -> str:
    return f"tridium-{tenant_id}"


async def provision_webhook(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    accounts: AsaasAccounts,
    *,
    url: str,
    email: str,
    send_type: WebhookSendType = WebhookSendType.SEQUENTIALLY,
    events: list[str] | None = None,
    rotate_token: bool = False,
    dunning_policy: DunningPolicy | None = None,
) -> dict[str, Any]:
    events = events or PAYMENT_EVENTS
    async with tenant_tx(pool, tenant_id) as conn:
        integration = await q.get_integration(conn, tenant_id)
    if integration is None:
        raise IntegrationMissing("this tenant has no Asaas integration")
    client = accounts.client(integration)
    existing: Webhook | None = None
    if integration.webhook_id:
        try:
            existing = await client.get_webhook(integration.webhook_id)
        except AsaasNotFound:
            existing = None
    if existing is None:
        existing = next((w for w in await client.list_webhooks() if w.name == webhook_name(tenant_id)), None)
    new_token = None
    if (
        existing is None
        or rotate_token
        or integration.webhook_token_hash is None
        or integration.webhook_id != existing.id
    ):
        new_token = new_webhook_token(tenant_id)
    was_interrupted = bool(existing and existing.interrupted)
    if existing is None:
        assert new_token is not None
        hook = await client.create_webhook(
            WebhookCreate(
                name=webhook_name(tenant_id),
                url=url,
                email=email,
                auth_token=SecretStr(new_token),
                send_type=send_type,
                events=events,
            )
        )
    else:
        hook = await client.update_webhook(
            existing.id,
            WebhookUpdate(
                url=url,
                email=email,
                enabled=True,
                interrupted=False,
                send_type=send_type,
                events=events,
                auth_token=SecretStr(new_token) if new_token else None,
            ),
        )
        await client.remove_webhook_backoff(hook.id)
    async with tenant_tx(pool, tenant_id) as conn:
        await q.set_webhook(
            conn,
            tenant_id,
            webhook_id=hook.id,
            url=url,
            send_type=hook.send_type,
            events=list(hook.events),
            token_hash=token_hash(new_token) if new_token else None,
        )
        if dunning_policy is not None:
            await q.set_dunning_policy(conn, tenant_id, dunning_policy.model_dump())
        policy = dunning_policy or DunningPolicy.of(integration.dunning_policy)
        await emit(
            conn,
            tenant_id,
            "payments.webhook_provisioned",
            {"webhook_id": hook.id, "url": url, "resumed": was_interrupted, "token_rotated": new_token is not None},
        )
    return {
        "webhookId": hook.id,
        "url": hook.url,
        "sendType": hook.send_type,
        "events": list(hook.events),
        "enabled": hook.enabled,
        "interrupted": hook.interrupted,
        "resumed": was_interrupted,
        "tokenRotated": new_token is not None,
        "dunningPolicy": policy.model_dump(),
    }


async def configure_asaas(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    *,
    base_url: str,
    api_key_ref: str,
    dunning_policy: dict[str, Any] | None = None,
) -> q.Integration:
    """Create or update the tenant's Asaas integration (where Asaas is, where its key lives)."""
    async with tenant_tx(pool, tenant_id) as conn:
        return await q.upsert_integration(
            conn, tenant_id, base_url=base_url, api_key_ref=api_key_ref, dunning_policy=dunning_policy
        )


__all__ = ["PAYMENT_EVENTS", "configure_asaas", "provision_webhook", "webhook_name"]
