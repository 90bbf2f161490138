"""Insights sync: each ad account's daily delivery into ``ad_metrics_daily``, then the rules.

One run per account (``ad_sync_runs``: running → done | failed, with rows, proposals, error):

1. read the platform's daily insights at the ``campaign`` and ``ad`` levels over a rolling
   window (the last ``days`` days, 3 by default, plus ``backfill_days`` further back) — rate
   limits and other retriable platform errors are retried with exponential backoff (the
   connectors already retry each HTTP call; this retries the whole read once more);
2. refresh the campaigns' status and daily budget in ``ad_objects`` from the platform;
3. upsert every row on ``(tenant, platform, level, external_id, day)``: a re-sync
   *overwrites* a day (platforms restate recent days), never adds to it;
4. evaluate the tenant's rules (``tools.ads.rules``) on the fresh numbers; proposals go
   through ``tools.ads.changes.propose_change``.

Provider failures never escape as exceptions: an expired token (``AdsAuthFailed``) or a
rejected request fails the run with a clear ``error``; the caller (the admin route, the Ray
task) returns the run. Metrics are committed before the rules run, so a rule that fails
loses no numbers.

``sync_tenant`` syncs every active account of a tenant; ``serve.ads.sync_runtime`` schedules it
as one Ray task per tenant.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import httpx

from core.errors import TridiumError
from core.tenancy import TenantId
from db.pool import tenant_tx

from .base import AdAccountView, AdsConnector
from .errors import AdsAuthFailed, AdsPlatformError, AdsRateLimited
from .models import InsightRow

log = logging.getLogger("tridium.ads.sync")

SYNC_LEVELS: tuple[str, ...] = ("campaign", "ad")
DEFAULT_DAYS = 3
MAX_BACKFILL_DAYS = 90
Sleep = Callable[[float], Awaitable[None]]


class AdsDepsLike(Protocol):
    """What the sync needs to reach a platform: ``tools.ads.accounts.AdsDeps`` (the process's
    SecretBox and connectors)."""

    async def account(self, conn: asyncpg.Connection, tenant_id: TenantId, account_id: UUID) -> AdAccountView: ...

    def connector(self, platform: str) -> AdsConnector: ...


@dataclass(frozen=True, slots=True)
class SyncOptions:
    days: int = DEFAULT_DAYS
    backfill_days: int = 0
    attempts: int = 3
    backoff_initial_s: float = 2.0
    backoff_max_s: float = 30.0
    run_rules: bool = True


def sync_window(today: date, days: int = DEFAULT_DAYS, backfill_days: int = 0) -> tuple[date, date]:
    """``[today - (days - 1) - backfill_days, today]``: the last ``days`` days plus a backfill."""
    days = max(1, days)
    backfill_days = max(0, min(MAX_BACKFILL_DAYS, backfill_days))
    return today - timedelta(days=days - 1 + backfill_days), today


def account_today(account: AdAccountView, now: datetime | None = None) -> date:
    """Today in the account's time zone (platforms report days in it)."""
    try:
        tz = ZoneInfo(account.timezone)
    except (KeyError, ValueError):
        tz = ZoneInfo("America/Sao_Paulo")
    return (now.astimezone(tz) if now else datetime.now(tz)).date()


async def _with_backoff(call: Callable[[], Awaitable[Any]], opts: SyncOptions, sleep: Sleep) -> Any:
    delay = opts.backoff_initial_s
    for attempt in range(1, opts.attempts + 1):
        try:
            return await call()
        except AdsPlatformError as exc:
            if not exc.retriable or attempt == opts.attempts:
                raise
            wait = exc.retry_after_s if isinstance(exc, AdsRateLimited) and exc.retry_after_s else delay
            if wait > opts.backoff_max_s:  # a long regain time fails the run; the next round retries
                raise
            await sleep(min(opts.backoff_max_s, wait))
            delay = min(opts.backoff_max_s, delay * 2)
    raise AssertionError("unreachable")


_UPSERT = """
insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, campaign_external_id, day,
                              impressions, clicks, spend_minor, conversions, conversion_value_minor, currency, raw,
                              synced_at)
select $1, $2, x.platform, x.level, x.external_id, x.campaign_external_id, x.day, x.impressions, x.clicks,
       x.spend_minor, x.conversions, x.conversion_value_minor, x.currency, x.raw, now()
from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::date[], $8::bigint[], $9::bigint[], $10::bigint[],
            $11::numeric[], $12::bigint[], $13::text[], $14::jsonb[])
     as x(platform, level, external_id, campaign_external_id, day, impressions, clicks, spend_minor, conversions,
          conversion_value_minor, currency, raw)
on conflict (tenant_id, platform, level, external_id, day) do update set
    account_id = excluded.account_id, campaign_external_id = excluded.campaign_external_id,
    impressions = excluded.impressions, clicks = excluded.clicks, spend_minor = excluded.spend_minor,
    conversions = excluded.conversions, conversion_value_minor = excluded.conversion_value_minor,
    currency = excluded.currency, raw = excluded.raw, synced_at = now()
"""


async def upsert_metrics(conn: asyncpg.Connection, tenant_id: UUID, account_id: UUID, rows: list[InsightRow]) -> int:
    """Idempotent: the latest read of a (platform, level, object, day) replaces the previous one.
    Duplicate rows in one read keep the last."""
    latest: dict[tuple[str, str, str, date], InsightRow] = {}
    for r in rows:
        latest[(r.platform, r.level, r.external_id, r.day)] = r
    if not latest:
        return 0
    rs = list(latest.values())
    await conn.execute(
        _UPSERT,
        tenant_id,
        account_id,
        [r.platform for r in rs],
        [r.level for r in rs],
        [r.external_id for r in rs],
        [r.campaign_external_id for r in rs],
        [r.day for r in rs],
        [max(0, int(r.impressions)) for r in rs],
        [max(0, int(r.clicks)) for r in rs],
        [max(0, int(r.spend_minor)) for r in rs],
        [max(0.0, float(r.conversions)) for r in rs],
        [max(0, int(r.conversion_value_minor)) for r in rs],
        [r.currency for r in rs],
        [json.loads(json.dumps(r.raw, default=str)) for r in rs],
    )
    return len(rs)


async def refresh_campaigns(
    conn: asyncpg.Connection, tenant_id: UUID, account: AdAccountView, objects: list[Any]
) -> int:
    """Mirror the platform's campaigns (status, daily budget, name) into ``ad_objects``;
    campaigns created outside Tridium appear too."""
    n = 0
    for o in objects:
        await conn.execute(
            """insert into ad_objects (tenant_id, account_id, platform, level, external_id, parent_external_id, name,
                                       status, daily_budget_minor)
               values ($1, $2, $3, 'campaign', $4, $5, $6, $7, $8)
               on conflict (tenant_id, account_id, level, external_id) do update set
                   status = excluded.status, daily_budget_minor = excluded.daily_budget_minor,
                   name = case when excluded.name = '' then ad_objects.name else excluded.name end,
                   updated_at = now()
               where (ad_objects.status, ad_objects.daily_budget_minor, ad_objects.name)
                     is distinct from (excluded.status, excluded.daily_budget_minor, excluded.name)""",
            tenant_id,
            account.id,
            account.platform,
            o.external_id,
            o.parent_external_id,
            o.name or "",
            o.status,
            o.daily_budget_minor,
        )
        n += 1
    return n


def _run_view(r: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": r["id"],
        "account_id": r["account_id"],
        "since": r["since"],
        "until": r["until"],
        "status": r["status"],
        "rows": r["rows"],
        "proposals": r["proposals"],
        "error": r["error"],
        "started_at": r["started_at"],
        "finished_at": r["finished_at"],
    }


_RUN_COLUMNS = "id, account_id, since, until, status, rows, proposals, error, started_at, finished_at"


def _describe(exc: Exception) -> str:
    if isinstance(exc, AdsAuthFailed):
        return f"{exc.platform}: the access token was refused ({exc}); re-provision the ad account"
    if isinstance(exc, AdsRateLimited):
        after = f"; retry after {int(exc.retry_after_s)} s" if exc.retry_after_s else ""
        return f"{exc.platform}: rate limited ({exc}, provider code {exc.provider_code}){after}"
    code = getattr(exc, "provider_code", None)
    platform = getattr(exc, "platform", None)
    prefix = f"{platform}: " if platform else ""
    suffix = f" (provider code {code})" if code else ""
    return f"{prefix}{type(exc).__name__}: {exc}{suffix}"[:2000]


async def sync_account(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    account: AdAccountView,
    connector: AdsConnector,
    *,
    since: date,
    until: date,
    options: SyncOptions | None = None,
    sleep: Sleep = asyncio.sleep,
    propose: Callable[..., Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Sync one account over ``[since, until]`` and return its ``ad_sync_runs`` row."""
    opts = options or SyncOptions()
    async with tenant_tx(pool, tenant_id) as conn:
        run_id = await _start_run(conn, tenant_id, account.id, since, until)
    try:
        rows: list[InsightRow] = []
        for level in SYNC_LEVELS:
            rows.extend(
                await _with_backoff(lambda lv=level: connector.insights(account, lv, since, until), opts, sleep)  # type: ignore[misc]
            )
        campaigns = await _with_backoff(lambda: connector.list_campaigns(account), opts, sleep)
        async with tenant_tx(pool, tenant_id) as conn:
            written = await upsert_metrics(conn, tenant_id, account.id, rows)
            await refresh_campaigns(conn, tenant_id, account, campaigns)
            await conn.execute(
                "update ad_sync_runs set rows = $3 where tenant_id = $1 and id = $2", tenant_id, run_id, written
            )
    except (TridiumError, httpx.HTTPError, asyncpg.DataError) as exc:  # provider errors, bad numbers: a failed run
        log.warning(
            "ads sync failed", extra={"tenant_id": str(tenant_id), "account_id": str(account.id), "error": repr(exc)}
        )
        return await _finish(pool, tenant_id, run_id, "failed", _describe(exc))
    proposals: list[dict[str, Any]] = []
    error: str | None = None
    if opts.run_rules:
        from .rules import run_rules

        try:
            async with tenant_tx(pool, tenant_id) as conn:
                proposals = await run_rules(conn, tenant_id, account.id, until, propose=propose)
        except TridiumError as exc:  # the metrics are in; say why the rules did not run
            error = f"rules not evaluated: {_describe(exc)}"
    return await _finish(pool, tenant_id, run_id, "done", error, proposals=len(proposals))


async def _start_run(conn: asyncpg.Connection, tenant_id: UUID, account_id: UUID, since: date, until: date) -> UUID:
    run_id: UUID = await conn.fetchval(
        "insert into ad_sync_runs (tenant_id, account_id, since, until) values ($1, $2, $3, $4) returning id",
        tenant_id,
        account_id,
        since,
        until,
    )
    return run_id


async def _finish(
    pool: asyncpg.Pool, tenant_id: TenantId, run_id: UUID, status: str, error: str | None, *, proposals: int = 0
) -> dict[str, Any]:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            f"""update ad_sync_runs set status = $3, error = $4, proposals = $5, finished_at = now()
                where tenant_id = $1 and id = $2 returning {_RUN_COLUMNS}""",
            tenant_id,
            run_id,
            status,
            error,
            proposals,
        )
    assert row is not None
    return _run_view(row)


async def sync_tenant(
    pool: asyncpg.Pool,
    tenant_id: TenantId,
    deps: AdsDepsLike,
    *,
    account_id: UUID | None = None,
    options: SyncOptions | None = None,
    now: datetime | None = None,
    sleep: Sleep = asyncio.sleep,
) -> list[dict[str, Any]]:
    """Sync every active ad account of the tenant (or only ``account_id``): one run each."""
    opts = options or SyncOptions()
    async with tenant_tx(pool, tenant_id) as conn:
        ids = [
            r["id"]
            for r in await conn.fetch(
                """select id from ad_accounts where tenant_id = $1 and active and ($2::uuid is null or id = $2)
                   order by created_at, id""",
                tenant_id,
                account_id,
            )
        ]
        accounts = [await deps.account(conn, tenant_id, i) for i in ids]
    runs: list[dict[str, Any]] = []
    for account in accounts:
        since, until = sync_window(account_today(account, now), opts.days, opts.backfill_days)
        try:
            connector = deps.connector(account.platform)
        except TridiumError as exc:
            async with tenant_tx(pool, tenant_id) as conn:
                run_id = await _start_run(conn, tenant_id, account.id, since, until)
            runs.append(await _finish(pool, tenant_id, run_id, "failed", _describe(exc)))
            continue
        runs.append(
            await sync_account(pool, tenant_id, account, connector, since=since, until=until, options=opts, sleep=sleep)
        )
    return runs


async def tenants_with_ad_accounts(pool: asyncpg.Pool) -> list[TenantId]:
    """Tenants with an active ad account. ``tenants`` is a platform table; each tenant's
    accounts are read in its own transaction, so no query spans tenants' data."""
    async with pool.acquire() as conn:
        ids = [TenantId(r["id"]) for r in await conn.fetch("select id from tenants order by id")]
    found: list[TenantId] = []
    for tenant_id in ids:
        async with tenant_tx(pool, tenant_id) as conn:
            if await conn.fetchval(
                "select exists (select 1 from ad_accounts where tenant_id = $1 and active)", tenant_id
            ):
                found.append(tenant_id)
    return found


async def list_runs(conn: asyncpg.Connection, tenant_id: UUID, limit: int = 20) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"select {_RUN_COLUMNS} from ad_sync_runs where tenant_id = $1 order by started_at desc limit $2",
        tenant_id,
        limit,
    )
    return [_run_view(r) for r in rows]


__all__ = [
    "DEFAULT_DAYS",
    "MAX_BACKFILL_DAYS",
    "AdsDepsLike",
    "SYNC_LEVELS",
    "SyncOptions",
    "account_today",
    "list_runs",
    "refresh_campaigns",
    "sync_account",
    "sync_tenant",
    "sync_window",
    "tenants_with_ad_accounts",
    "upsert_metrics",
]
