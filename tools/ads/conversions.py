"""Conversions sent back to the ad platform that brought the lead (``ad_conversions``).

``payment.succeeded`` and ``deal.won`` become one ``purchase`` per sale:

* the event id is deterministic — ``uuid5`` of tenant, kind and the sale's reference: the
  deal when there is one (a paid Pix that wins its deal and the ``deal.won`` that follows
  are the same sale), else the Asaas payment id. It is both our dedupe key (unique per
  tenant/platform/event id: a redelivered event inserts nothing) and the platform's
  (Meta ``event_id``, Google ``order_id``, TikTok ``event_id``), so a send retried after a
  crash is counted once by the platform too;
* the platform is the lead's first touch (``lead_attribution``) and the account the
  tenant's active account there; a lead with no ad attribution, or a platform without an
  account, is recorded ``skipped`` with the reason (``no_attribution`` /
  ``no_ad_account``) and nothing is sent;
* only SHA-256 hashes of the normalised e-mail and phone (Meta's normalisation,
  ``tools.ads.meta.capi``) and the click id are kept in ``identifiers``; the clear values
  are read from the lead at send time and hashed again by the connector.

Sending (``send_due``): queued rows whose time has come are claimed with a lease
(``next_attempt_at`` moves forward, so a crashed sender's row is retried later, never
twice at once), sent one platform call each, then ``sent`` or — on a retriable platform
error (5xx, rate limit) — queued again with exponential backoff, or ``failed`` with the
platform's code after ``max_attempts`` or on a refusal. Each outcome is an event
(``ads.conversion.sent`` / ``ads.conversion.failed``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from core.errors import ClientError
from core.tenancy import TenantId
from db.events import emit
from db.pool import tenant_tx

from .accounts import AdsDeps
from .errors import AdsPlatformError
from .meta.capi import hash_email, hash_phone
from .models import ConversionEvent, ConversionKind

log = logging.getLogger("tridium.ads")

_NAMESPACE = uuid.UUID("6f1c2b9e-3d4a-5e6f-8a9b-0c1d2e3f4a5b")
_COLUMNS = (
    "id, account_id, platform, event_id, kind, source_event_id, lead_id, deal_id, value_minor, currency, "
    "occurred_at, identifiers, status, attempts, next_attempt_at, error_code, error, response, sent_at"
)


def conversion_event_id(tenant_id: UUID, kind: str, ref: str) -> str:
    """The deterministic event id of one conversion (``ref``: ``deal:<id>`` / ``payment:<id>``)."""
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}:{kind}:{ref}"))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 30.0
    cap_s: float = 3600.0
    lease_s: float = 120.0  # a claimed row is retried after this if its sender died

    def backoff(self, attempts: int) -> float:
        return float(min(self.cap_s, self.base_s * 2 ** max(0, attempts - 1)))


def view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _COLUMNS.split(", ")}


async def suppress_lead(
    conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID, reason: str, source_event_id: UUID | None
) -> bool:
    """Keep a customer out of nurture and retargeting (``lead_suppressions``), once.

    Tridium has no nurture sequence or retargeting audience yet: this row is the contract
    any of them must honour (``is_suppressed``). Emits ``lead.nurture_paused`` when new."""
    inserted = await conn.fetchval(
        """insert into lead_suppressions (tenant_id, lead_id, kind, reason, source_event_id)
           values ($1, $2, 'customer', $3, $4) on conflict (tenant_id, lead_id, kind) do nothing returning true""",
        tenant_id,
        lead_id,
        reason[:500],
        source_event_id,
    )
    if inserted:
        await emit(conn, tenant_id, "lead.nurture_paused", {"lead_id": str(lead_id), "reason": reason[:500]})
    return bool(inserted)


async def is_suppressed(conn: asyncpg.Connection, tenant_id: TenantId, lead_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "select exists (select 1 from lead_suppressions where tenant_id = $1 and lead_id = $2)", tenant_id, lead_id
        )
    )


async def record_conversion(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    *,
    kind: ConversionKind,
    ref: str,
    lead_id: UUID | None,
    deal_id: UUID | None,
    value_minor: int,
    occurred_at: datetime,
    source_event_id: UUID | None,
    currency: str = "BRL",
) -> dict[str, Any] | None:
    """Queue one conversion (or record why it is skipped); None when it was already recorded."""
    event_id = conversion_event_id(tenant_id, kind, ref)
    already = await conn.fetchval(
        "select 1 from ad_conversions where tenant_id = $1 and event_id = $2", tenant_id, event_id
    )
    if already:
        return None
    touch = None
    lead = None
    if lead_id is not None:
        touch = await conn.fetchrow(
            """select platform, click_id_kind, click_id from lead_attribution where tenant_id = $1 and lead_id = $2""",
            tenant_id,
            lead_id,
        )
        lead = await conn.fetchrow(
            "select email, phone from leads where tenant_id = $1 and id = $2", tenant_id, lead_id
        )
    platform = touch["platform"] if touch is not None else None
    account_id = None
    status, error_code, error = "queued", None, None
    if platform is None:
        status, error_code = "skipped", "no_attribution"
        error = "the lead has no ad attribution (no first touch from an ad): nothing to send"
    else:
        account_id = await conn.fetchval(
            """select id from ad_accounts where tenant_id = $1 and platform = $2 and active
               order by created_at, id limit 1""",
            tenant_id,
            platform,
        )
        if account_id is None:
            status, error_code = "skipped", "no_ad_account"
            error = f"the lead came from {platform} but the tenant has no active {platform} ad account"
    identifiers: dict[str, Any] = {}
    if lead is not None:
        identifiers = {
            k: v for k, v in (("em", hash_email(lead["email"])), ("ph", hash_phone(lead["phone"]))) if v is not None
        }
    if touch is not None and touch["click_id"]:
        identifiers[touch["click_id_kind"]] = touch["click_id"]
    row = await conn.fetchrow(
        f"""insert into ad_conversions (tenant_id, account_id, platform, event_id, kind, source_event_id, lead_id,
                                        deal_id, value_minor, currency, occurred_at, identifiers, status, error_code,
                                        error)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
            on conflict do nothing returning {_COLUMNS}""",
        tenant_id,
        account_id,
        platform,
        event_id,
        kind,
        source_event_id,
        lead_id,
        deal_id,
        value_minor,
        currency,
        occurred_at,
        identifiers,
        status,
        error_code,
        error,
    )
    if row is None:
        return None
    out = view(row)
    payload = {"conversion_id": str(row["id"]), "event_id": event_id, "platform": platform, "status": status}
    await emit(
        conn, tenant_id, f"ads.conversion.{status}", {**payload, "reason": error_code} if error_code else payload
    )
    return out


async def conversion_from_event(
    conn: asyncpg.Connection, tenant_id: TenantId, etype: str, payload: dict[str, Any], event_id: UUID, at: datetime
) -> dict[str, Any] | None:
    """The conversion of a ``payment.succeeded`` / ``deal.won`` event (None: already recorded)."""
    lead = UUID(payload["lead_id"]) if payload.get("lead_id") else None
    deal = UUID(payload["deal_id"]) if payload.get("deal_id") else None
    if etype == "payment.succeeded":
        ref = f"deal:{deal}" if deal else f"payment:{payload['payment_id']}"
        value = int(payload.get("amount_cents") or 0)
    elif etype == "deal.won":
        if deal is None:
            return None
        ref, value = f"deal:{deal}", int(payload.get("value_cents") or 0)
    else:
        return None
    return await record_conversion(
        conn,
        tenant_id,
        kind="purchase",
        ref=ref,
        lead_id=lead,
        deal_id=deal,
        value_minor=value,
        occurred_at=at,
        source_event_id=event_id,
    )


async def _claim(pool: asyncpg.Pool, tenant_id: TenantId, limit: int, policy: RetryPolicy) -> list[asyncpg.Record]:
    async with tenant_tx(pool, tenant_id) as conn:
        return list(
            await conn.fetch(
                f"""update ad_conversions set attempts = attempts + 1, updated_at = now(),
                           next_attempt_at = now() + make_interval(secs => $3)
                    where tenant_id = $1 and id in (
                        select id from ad_conversions where tenant_id = $1 and status = 'queued'
                          and next_attempt_at <= now() order by next_attempt_at limit $2 for update skip locked)
                    returning {_COLUMNS}""",
                tenant_id,
                limit,
                policy.lease_s,
            )
        )


async def _finish(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    row: asyncpg.Record,
    status: str,
    *,
    code: str | None = None,
    error: str | None = None,
    response: dict[str, Any] | None = None,
    retry_in_s: float | None = None,
) -> dict[str, Any]:
    async with tenant_tx(pool, tenant_id) as conn:
        updated = await conn.fetchrow(
            f"""update ad_conversions set status = $3, error_code = $4, error = $5, response = coalesce($6, response),
                       sent_at = case when $3 = 'sent' then now() else sent_at end,
                       next_attempt_at = case when $7::float8 is null then next_attempt_at
                                              else now() + make_interval(secs => $7::float8) end,
                       updated_at = now()
                where tenant_id = $1 and id = $2 returning {_COLUMNS}""",
            tenant_id,
            row["id"],
            status,
            code,
            error[:1000] if error else None,
            response,
            retry_in_s,
        )
        assert updated is not None
        if status in ("sent", "failed"):
            await emit(
                conn,
                tenant_id,
                f"ads.conversion.{status}",
                {
                    "conversion_id": str(row["id"]),
                    "event_id": row["event_id"],
                    "platform": row["platform"],
                    "attempts": row["attempts"],
                    **({"error_code": code} if code else {}),
                },
            )
    return view(updated)


async def _event(pool: asyncpg.Pool, tenant_id: TenantId, row: asyncpg.Record) -> ConversionEvent:
    async with tenant_tx(pool, tenant_id, durable=False) as conn:
        lead = None
        if row["lead_id"] is not None:
            lead = await conn.fetchrow(
                "select email, phone from leads where tenant_id = $1 and id = $2", tenant_id, row["lead_id"]
            )
        touch = (
            await conn.fetchrow(
                """select campaign_external_id, ad_external_id, click_id_kind, click_id from lead_attribution
                   where tenant_id = $1 and lead_id = $2""",
                tenant_id,
                row["lead_id"],
            )
            if row["lead_id"] is not None
            else None
        )
    return ConversionEvent(
        event_id=row["event_id"],
        kind=row["kind"],
        occurred_at=row["occurred_at"],
        value_minor=row["value_minor"],
        currency=row["currency"],
        email=(lead["email"] or None) if lead else None,
        phone=(lead["phone"] or None) if lead else None,
        external_id=str(row["lead_id"]) if row["lead_id"] else None,
        click_id=touch["click_id"] if touch else None,
        click_id_kind=touch["click_id_kind"] if touch else None,
        campaign_external_id=touch["campaign_external_id"] if touch else None,
        ad_external_id=touch["ad_external_id"] if touch else None,
    )


async def send_one(
    pool: asyncpg.Pool, tenant_id: TenantId, row: asyncpg.Record, deps: AdsDeps, policy: RetryPolicy
) -> dict[str, Any]:
    """Send one claimed conversion and record the outcome (see module doc)."""
    try:
        async with tenant_tx(pool, tenant_id, durable=False) as conn:
            account = await deps.account(conn, tenant_id, row["account_id"])
        event = await _event(pool, tenant_id, row)
        [result] = await deps.connector(row["platform"]).send_conversions(account, [event])
    except AdsPlatformError as exc:
        code = exc.provider_code or exc.code
        if exc.retriable and row["attempts"] < policy.max_attempts:
            delay = max(policy.backoff(row["attempts"]), exc.retry_after_s or 0.0)
            log.warning("conversion send failed; retrying", extra={"event_id": row["event_id"], "code": code})
            return await _finish(pool, tenant_id, row, "queued", code=code, error=exc.message, retry_in_s=delay)
        return await _finish(pool, tenant_id, row, "failed", code=code, error=exc.message)
    except ClientError as exc:  # refused, auth failed, account not configured: a person must act
        code = getattr(exc, "provider_code", None) or exc.code
        return await _finish(pool, tenant_id, row, "failed", code=code, error=exc.message)
    response = {"accepted": result.accepted, "duplicate": result.duplicate, "raw": result.raw}
    if result.accepted:
        return await _finish(pool, tenant_id, row, "sent", response=response)
    return await _finish(pool, tenant_id, row, "failed", code="refused", error=result.error, response=response)


async def send_due(
    pool: asyncpg.Pool, tenant_id: TenantId, deps: AdsDeps, *, policy: RetryPolicy | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """Send the tenant's queued conversions that are due; returns their new state."""
    policy = policy or RetryPolicy()
    return [await send_one(pool, tenant_id, row, deps, policy) for row in await _claim(pool, tenant_id, limit, policy)]


async def tenants_with_due(pool: asyncpg.Pool) -> list[TenantId]:
    rows = await pool.fetch("select t from ads_tenants_with_due_conversions() as t order by t")
    return [TenantId(r["t"]) for r in rows]


async def list_conversions(
    conn: asyncpg.Connection, tenant_id: TenantId, *, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""select {_COLUMNS} from ad_conversions where tenant_id = $1 and ($2::text is null or status = $2)
            order by created_at desc limit $3""",
        tenant_id,
        status,
        limit,
    )
    return [view(r) for r in rows]


__all__ = [
    "RetryPolicy",
    "conversion_event_id",
    "conversion_from_event",
    "is_suppressed",
    "list_conversions",
    "record_conversion",
    "send_due",
    "send_one",
    "suppress_lead",
    "tenants_with_due",
]
