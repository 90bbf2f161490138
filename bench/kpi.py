"""KPI benchmark: ``GET /metrics/kpi`` through the gateway vs the same SQL alone, in one run.

    python -m bench.kpi [--requests 600] [--concurrency 8] [--tenants 10] [--campaigns 50] [--days 90]

On one embedded Postgres + Redis (own data dir and ports, fresh database), seeded with
``tenants`` x ``campaigns`` x ``days`` campaign-level rows of ``ad_metrics_daily`` (plus 2
ads per campaign at ad level, one carrying a Clio creative version), and per tenant 40
leads a day (70 % with a ``lead_attribution``), invoices and payments for 10 % of them (a
few before the period, some pending), and won deals for 5 %:

1. **route** — the gateway app (``serve.asgi``, uvicorn, one process: auth, tenant,
   rate limit, one tenant transaction, the report, JSON) answers ``GET /metrics/kpi``;
2. **sql** — a bare asyncpg loop running ``tools.ads.kpi.kpi_sql`` (the same statement,
   same parameters) in a tenant transaction, same concurrency, same request sequence.

Requests cycle over the 10 tenants and ``group_by`` source/campaign/creative; windows of 30
days at varying offsets and one in five over the full 90 days. Each is preceded by a
warm-up. The load generator shares the machine's cores with the server. Reports p50/p95 of
both and the ratio route/sql, overall and per group_by.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from bench._common import free_port, percentile, start_bench_database, table, wait_http, write_result

DATA = Path(".tridium/bench-kpi")
LAST_DAY = date(2026, 11, 30)

SEED_SQL = """
with acc as (
    insert into ad_accounts (tenant_id, platform, external_id, secrets)
    values ($1, 'meta', 'act_' || $2::text, '\\x00') returning id
), cv as (
    insert into creatives (tenant_id, name, audience, angle) values ($1, 'Oferta', 'todos', 'preço') returning id
), ver as (
    insert into creative_versions (tenant_id, creative_id, version, headline, body)
    select $1, cv.id, v, 'h' || v, 'b' from cv, generate_series(1, 10) v returning id, version
), camp as (
    insert into ad_objects (tenant_id, account_id, platform, level, external_id, name, status, daily_budget_minor)
    select $1, acc.id, 'meta', 'campaign', 'c' || c, 'Campanha ' || c, 'active', 10000
    from acc, generate_series(1, $3::int) c returning external_id
), ads as (
    insert into ad_objects (tenant_id, account_id, platform, level, external_id, parent_external_id, name, status,
                            creative_version_id)
    select $1, acc.id, 'meta', 'ad', 'c' || c || 'a' || a, 'c' || c, 'ad', 'active',
           case when a = 1 then (select id from ver where version = 1 + c % 10) end
    from acc, generate_series(1, $3::int) c, generate_series(1, 2) a returning 1
)
insert into ad_metrics_daily (tenant_id, account_id, platform, level, external_id, campaign_external_id, day,
                              impressions, clicks, spend_minor, conversions)
select $1, acc.id, 'meta', lv.level, case when lv.level = 'campaign' then 'c' || c else 'c' || c || 'a' || lv.a end,
       'c' || c, $4::date - d, 1000 + (c * 37 + d * 11) % 900, 10 + (c + d) % 40, 2000 + (c * 53 + d * 17) % 8000,
       (c + d) % 4
from acc, generate_series(1, $3::int) c, generate_series(0, $5::int - 1) d,
     (values ('campaign', 0), ('ad', 1), ('ad', 2)) lv(level, a)
"""

SEED_LEADS_SQL = """
with l as (
    insert into leads (tenant_id, name, source, campaign, created_at)
    select $1, 'Lead ' || i, case when i % 10 < 7 then 'meta' when i % 10 < 9 then 'instagram' else null end,
           case when i % 10 = 7 then 'c' || (1 + i % $3::int) end,
           ($4::date - (i % $5::int))::timestamp at time zone 'America/Sao_Paulo' + make_interval(mins => i % 1400)
    from generate_series(1, $2::int) i returning id, name
), la as (
    insert into lead_attribution (tenant_id, lead_id, platform, campaign_external_id, ad_external_id)
    select $1, l.id, 'meta', 'c' || (1 + n % $3::int), 'c' || (1 + n % $3::int) || 'a' || (1 + n % 2)
    from l, lateral (select substr(l.name, 6)::int as n) x where n % 10 < 7 returning 1
), inv as (
    insert into invoices (tenant_id, lead_id, amount_cents, status)
    select $1, l.id, 9900 + (n % 50) * 100, 'PENDING' from l, lateral (select substr(l.name, 6)::int as n) x
    where n % 10 = 3 returning id, amount_cents
), won as (
    insert into deals (tenant_id, lead_id, stage, won_at, value_cents)
    select $1, l.id, 'won', ($4::date - (n % $5::int))::timestamp at time zone 'America/Sao_Paulo', 10000
    from l, lateral (select substr(l.name, 6)::int as n) x where n % 20 = 5 returning 1
)
insert into payments (tenant_id, invoice_id, status, value_cents, paid_at, occurred_at)
select $1, inv.id, case when inv.amount_cents % 700 = 0 then 'PENDING' else 'RECEIVED' end, inv.amount_cents,
       case when inv.amount_cents % 700 = 0 then null
            else ($4::date - ((inv.amount_cents / 100) % $5::int)::int)::timestamp at time zone 'America/Sao_Paulo' end,
       now()
from inv
"""


async def _prepare(
    env: dict[str, str], tenants: int, campaigns: int, days: int
) -> tuple[str, list[str], dict[str, int]]:
    from core.settings import Settings
    from core.tenancy import TenantId
    from db.migrate import migrate
    from db.pool import create_pool, tenant_tx
    from db.tenants import create_tenant, upsert_membership
    from serve.auth import mint_token

    os.environ.update(env)
    settings = Settings()
    await migrate(env["DATABASE_OWNER_URL"])
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    ids: list[str] = []
    counts: dict[str, int] = {}
    try:
        for t in range(tenants):
            tid = await create_tenant(pool, f"kpi-{t}", f"KPI {t}")
            await upsert_membership(pool, tid, "bench-user", "bench@example.com", "member")
            async with tenant_tx(pool, tid) as conn:
                await conn.execute(SEED_SQL, tid, str(t), campaigns, LAST_DAY, days)
                await conn.execute(SEED_LEADS_SQL, tid, 40 * days, campaigns, LAST_DAY, days)
            ids.append(str(tid))
        names = ("ad_metrics_daily", "leads", "lead_attribution", "payments", "deals", "ad_objects")
        for tid_text in ids:
            async with tenant_tx(pool, TenantId(UUID(tid_text))) as conn:
                for name in names:
                    counts[name] = counts.get(name, 0) + int(await conn.fetchval(f"select count(*) from {name}"))
        owner = await create_pool(env["DATABASE_OWNER_URL"], max_size=1)
        try:
            async with owner.acquire() as conn:
                await conn.execute("analyze")
        finally:
            await owner.close()
    finally:
        await pool.close()
    return mint_token(settings, user_id="bench-user", email="bench@example.com"), ids, counts


def request_plan(n: int, tenants: int, days: int) -> list[tuple[int, str, date, date]]:
    """The same (tenant, group_by, from, to) sequence for both contenders."""
    group_bys = ("source", "campaign", "creative")
    plan = []
    for i in range(n):
        span = days if i % 5 == 4 else 30
        offset = 0 if span == days else (i * 7) % max(1, days - 30)
        last = LAST_DAY - timedelta(days=offset)
        plan.append((i % tenants, group_bys[i % 3], last - timedelta(days=span - 1), last))
    return plan


async def _sql_run(
    dsn: str, ids: list[str], plan: list[tuple[int, str, date, date]], concurrency: int
) -> tuple[list[float], dict[str, list[float]]]:
    from core.tenancy import TenantId
    from db.pool import create_pool, tenant_tx
    from tools.ads.kpi import PAID_STATUSES, kpi_sql

    pool = await create_pool(dsn, min_size=concurrency, max_size=concurrency)
    latencies: list[float] = []
    by_group: dict[str, list[float]] = {"source": [], "campaign": [], "creative": []}
    it = iter(plan)

    async def worker() -> None:
        for t, group_by, first, last in it:
            t0 = time.perf_counter()
            async with tenant_tx(pool, TenantId(UUID(ids[t]))) as conn:
                await conn.fetch(kpi_sql(group_by), UUID(ids[t]), first, last, list(PAID_STATUSES))  # type: ignore[arg-type]
            ms = (time.perf_counter() - t0) * 1000
            latencies.append(ms)
            by_group[group_by].append(ms)

    try:
        await asyncio.gather(*[worker() for _ in range(concurrency)])
    finally:
        await pool.close()
    return latencies, by_group


async def _route_run(
    url: str, token: str, plan: list[tuple[int, str, date, date]], concurrency: int
) -> tuple[Any, dict[str, list[float]]]:
    import httpx

    by_group: dict[str, list[float]] = {"source": [], "campaign": [], "creative": []}
    latencies: list[float] = []
    errors = 0
    it = iter(plan)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as client:

        async def worker() -> None:
            nonlocal errors
            for t, group_by, first, last in it:
                t0 = time.perf_counter()
                r = await client.get(
                    "/metrics/kpi",
                    params={"from": first.isoformat(), "to": last.isoformat(), "group_by": group_by},
                    headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": f"kpi-{t}"},
                )
                ms = (time.perf_counter() - t0) * 1000
                if r.status_code != 200:
                    errors += 1
                latencies.append(ms)
                by_group[group_by].append(ms)

        await asyncio.gather(*[worker() for _ in range(concurrency)])
    return (latencies, errors), by_group


async def _explain(dsn: str, tenant: str, days: int) -> dict[str, str]:
    """The plan of each statement for one tenant over 30 days (execution time and top node)."""
    from core.tenancy import TenantId
    from db.pool import create_pool, tenant_tx
    from tools.ads.kpi import PAID_STATUSES, kpi_sql

    pool = await create_pool(dsn, max_size=1)
    plans: dict[str, str] = {}
    try:
        for group_by in ("source", "campaign", "creative"):
            async with tenant_tx(pool, TenantId(UUID(tenant))) as conn:
                rows = await conn.fetch(
                    "explain (analyze, buffers) " + kpi_sql(group_by),
                    UUID(tenant),
                    LAST_DAY - timedelta(days=29),
                    LAST_DAY,
                    list(PAID_STATUSES),
                )
            plans[group_by] = "\n".join(r[0] for r in rows)
    finally:
        await pool.close()
    return plans


def _stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--tenants", type=int, default=10)
    ap.add_argument("--campaigns", type=int, default=50)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--pg-port", type=int, default=None)
    ap.add_argument("--redis-port", type=int, default=None)
    ap.add_argument("--out", default="kpi", help="result name under bench/results/")
    ap.add_argument("--explain", action="store_true", help="print each statement's plan (EXPLAIN ANALYZE)")
    args = ap.parse_args()

    pg, rd, db, env = start_bench_database(DATA, "benchkpi", pg_port=args.pg_port, redis_port=args.redis_port)
    env |= {
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000000",
        "TRIDIUM_DB_POOL_MAX": str(max(4, args.concurrency)),
    }
    proc: subprocess.Popen[bytes] | None = None
    try:
        t0 = time.perf_counter()
        token, ids, counts = asyncio.run(_prepare(env, args.tenants, args.campaigns, args.days))
        seed_s = round(time.perf_counter() - t0, 1)
        if args.explain:
            for group_by, plan_text in asyncio.run(_explain(env["DATABASE_URL"], ids[0], args.days)).items():
                print(f"--- {group_by}\n{plan_text}")
        port = free_port()
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "serve.asgi:create_app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env={**os.environ, **env},
        )
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health")
        plan = request_plan(args.requests, args.tenants, args.days)
        warm = request_plan(min(60, args.requests), args.tenants, args.days)

        async def measure() -> dict[str, Any]:
            await _route_run(url, token, warm, args.concurrency)
            await _sql_run(env["DATABASE_URL"], ids, warm, args.concurrency)
            (route_lat, errors), route_by = await _route_run(url, token, plan, args.concurrency)
            sql_lat, sql_by = await _sql_run(env["DATABASE_URL"], ids, plan, args.concurrency)
            rows = []
            for name, r_lat, s_lat in [("all", route_lat, sql_lat)] + [
                (g, route_by[g], sql_by[g]) for g in ("source", "campaign", "creative")
            ]:
                r, s = _stats(r_lat), _stats(s_lat)
                rows.append(
                    {
                        "group_by": name,
                        "n": r["n"],
                        "route_p50_ms": r["p50_ms"],
                        "route_p95_ms": r["p95_ms"],
                        "sql_p50_ms": s["p50_ms"],
                        "sql_p95_ms": s["p95_ms"],
                        "ratio_p50": round(r["p50_ms"] / s["p50_ms"], 2) if s["p50_ms"] else None,
                        "ratio_p95": round(r["p95_ms"] / s["p95_ms"], 2) if s["p95_ms"] else None,
                    }
                )
            return {"rows": rows, "errors": errors}

        load_before = os.getloadavg()
        result = asyncio.run(measure())
        load_after = os.getloadavg()
        cols = ["group_by", "n", "route_p50_ms", "route_p95_ms", "sql_p50_ms", "sql_p95_ms", "ratio_p50", "ratio_p95"]
        print(table(result["rows"], cols))
        print(f"errors: {result['errors']}  seed: {seed_s}s  rows: {counts}  load: {load_before} → {load_after}")
        path = write_result(
            args.out,
            {
                "params": vars(args),
                "seeded": counts,
                "seed_s": seed_s,
                "errors": result["errors"],
                "rows": result["rows"],
                "loadavg_before": load_before,
                "loadavg_after": load_after,
            },
        )
        print(f"wrote {path}")
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        pg.drop_database(db)
        rd.stop()
        pg.stop()


if __name__ == "__main__":
    main()
