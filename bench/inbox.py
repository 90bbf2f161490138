"""Inbox benchmark: WhatsApp deliveries through the real gateway vs a bare signed INSERT.

    python -m bench.inbox [--deliveries 2000] [--duplicates 0.2] [--contacts 200] [--concurrency 16]

In one run, on one embedded Postgres + Redis (own data dir and ports, fresh database):

1. **gateway** — the gateway app (``serve.asgi``, uvicorn, one process) receives
   ``POST /webhooks/whatsapp/{tenant}`` signed with ``X-Hub-Signature-256``: decrypt the
   tenant's account secrets, verify the HMAC in constant time, parse and normalize the
   Cloud API body, store each message once (``inbound_deliveries``) with its outbox event,
   answer 200. 20 % of the deliveries are duplicates (same wamid), all shuffled, from
   ``--contacts`` customers (so several messages per conversation: bursts).
2. **baseline** — a bare asyncpg loop: HMAC check + ``INSERT … ON CONFLICT DO NOTHING``
   into the same table (tenant transaction, same concurrency, same duplicates).

Then the real pipeline drains what the gateway stored: the outbox relay, the InboxWorker
(burst merge, quiet window ``--quiet``) with Luddy in-process (offline model) and the
WhatsApp sandbox receiving the answers. Checks: every delivery answered 200; lost = acked
wamids without a ``messages`` row; double answers = inbound messages claimed by more than
one run + runs with more than one send + sandbox sends beyond the outbound rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import random
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench._common import free_port, percentile, start_bench_database, table, wait_http, write_result

DATA = Path(".tridium/bench-inbox")
PHONE_ID = "100000000000777"


def deliveries(unique: int, duplicate_share: float, contacts: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    base = int(time.time()) - 60
    msgs = [
        {"from": str(5511900000000 + i % contacts), "id": f"wamid.bench{seed}x{i:07d}",
         "timestamp": str(base + i // contacts), "type": "text",
         "text": {"body": f"mensagem {i // contacts} do cliente {i % contacts}"}}
        for i in range(unique)
    ]  # fmt: skip
    dups = round(unique * duplicate_share / (1 - duplicate_share))
    out = msgs + [rng.choice(msgs) for _ in range(dups)]
    rng.shuffle(out)
    return out


def body_of(msg: dict[str, Any]) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001234", "phone_number_id": PHONE_ID},
            "contacts": [{"profile": {"name": "Cliente"}, "wa_id": msg["from"]}],
            "messages": [msg]}}]}],
    }  # fmt: skip
    return json.dumps(payload, separators=(",", ":")).encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def _prepare(env: dict[str, str], sandbox_url: str, app_secret: str, token: str) -> tuple[str, str]:
    from pydantic import SecretStr

    from core.settings import INSECURE_DEV_CHANNEL_KEY
    from core.tenancy import TenantId
    from db.migrate import migrate
    from db.pool import create_pool, tenant_tx
    from db.tenants import create_tenant
    from tools.inbox import SecretBox, provision

    await migrate(env["DATABASE_OWNER_URL"])
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    try:
        gw = TenantId(await create_tenant(pool, "bench-inbox-gw", "Bench inbox gateway"))
        base = TenantId(await create_tenant(pool, "bench-inbox-base", "Bench inbox baseline"))
        box = SecretBox(SecretStr(INSECURE_DEV_CHANNEL_KEY))
        for tid in (gw, base):
            async with tenant_tx(pool, tid) as conn:
                await provision(conn, tid, box, channel="whatsapp", provider="whatsapp_cloud", external_id=PHONE_ID,
                                name="bench", base_url=sandbox_url, config={},
                                secrets={"access_token": token, "app_secret": app_secret})  # fmt: skip
            async with tenant_tx(pool, tid) as conn:  # no knowledge base: Luddy says so, no handoff
                await conn.execute(
                    """insert into agents (tenant_id, name, guardrails) values ($1, 'luddy', $2)
                       on conflict (tenant_id, name) do update set guardrails = excluded.guardrails""",
                    tid,
                    {"handoff_on_low_confidence": False},
                )
    finally:
        await pool.close()
    return str(gw), str(base)


async def drive_gateway(url: str, secret: str, msgs: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    bodies = [body_of(m) for m in msgs]
    sigs = [signature(b, secret) for b in bodies]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked: list[int] = []
    queue = iter(range(len(bodies)))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in queue:
                headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sigs[i]}
                t0 = time.perf_counter()
                async with session.post(url, data=bodies[i], headers=headers) as r:
                    await r.read()
                    latencies.append((time.perf_counter() - t0) * 1000)
                    statuses[r.status] = statuses.get(r.status, 0) + 1
                    if r.status == 200:
                        acked.append(i)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    return _summary("gateway POST /webhooks/whatsapp", latencies, elapsed, statuses, acked)


async def drive_baseline(
    dsn: str, tenant: str, secret: str, msgs: list[dict[str, Any]], concurrency: int
) -> dict[str, Any]:
    from core.tenancy import TenantId
    from db.pool import create_pool, tenant_tx

    pool = await create_pool(dsn, min_size=concurrency, max_size=concurrency)
    tid = TenantId(uuid.UUID(tenant))
    async with tenant_tx(pool, tid) as conn:
        account = await conn.fetchval("select id from channel_accounts where tenant_id = $1", tid)
    bodies = [body_of(m) for m in msgs]
    sigs = [signature(b, secret) for b in bodies]
    latencies: list[float] = []
    acked: list[int] = []
    queue = iter(range(len(msgs)))

    async def worker() -> None:
        for i in queue:
            t0 = time.perf_counter()
            assert hmac.compare_digest(signature(bodies[i], secret), sigs[i])
            m = msgs[i]
            async with tenant_tx(pool, tid) as conn:
                await conn.execute(
                    """insert into inbound_deliveries (tenant_id, channel_account_id, provider, kind, event_key,
                                                       provider_message_id, item)
                       values ($1, $2, 'whatsapp_cloud', 'message', $3, $3, $4)
                       on conflict (tenant_id, provider, event_key) do nothing""",
                    tid,
                    account,
                    m["id"],
                    m,
                )
            latencies.append((time.perf_counter() - t0) * 1000)
            acked.append(i)

    try:
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return _summary("baseline HMAC + INSERT ON CONFLICT", latencies, elapsed, {200: len(acked)}, acked)


def _summary(
    name: str, latencies: list[float], elapsed: float, statuses: dict[int, int], acked: list[int]
) -> dict[str, Any]:
    return {
        "name": name,
        "deliveries": len(latencies),
        "seconds": round(elapsed, 3),
        "messages_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "acked": acked,
    }


async def drain(
    env: dict[str, str], tenant: str, sandbox: Any, unique: set[str], acked: set[str], quiet_s: float, timeout_s: float
) -> dict[str, Any]:
    """Run relay + InboxWorker + Luddy until every stored message is answered; then check."""
    import httpx
    import redis.asyncio as redis
    from pydantic import SecretStr

    from actors.host import HostDeps, LocalRuntime
    from core.settings import INSECURE_DEV_CHANNEL_KEY, Settings
    from core.tenancy import TenantId
    from db.bus import OutboxRelay
    from db.pool import create_pool, tenant_tx
    from serve.inbox import RuntimeAgents, build_connectors
    from tools.inbox import SecretBox
    from tools.inbox.outbound import DeliveryPolicy
    from tools.inbox.worker import InboxConfig, InboxWorker

    async def no_search(*_a: Any) -> list[Any]:
        return []

    settings = Settings()
    tid = TenantId(uuid.UUID(tenant))
    pool = await create_pool(env["DATABASE_URL"], max_size=12)
    relay_pool = await create_pool(env["DATABASE_RELAY_URL"], max_size=2)
    client = redis.from_url(env["REDIS_URL"])
    relay = OutboxRelay(relay_pool, client, settings.events_stream, poll_interval_s=0.05)
    await relay.start()
    runtime = LocalRuntime(HostDeps(settings, pool, client, no_search))
    stop = asyncio.Event()
    async with httpx.AsyncClient(timeout=20) as http:
        worker = InboxWorker(
            pool, client, settings.events_stream, RuntimeAgents(runtime, pool), build_connectors(http, settings),
            SecretBox(SecretStr(INSECURE_DEV_CHANNEL_KEY)),
            InboxConfig(quiet_s=quiet_s, max_wait_s=quiet_s * 4, tick_s=0.05, policy=DeliveryPolicy(base_s=0.1)),
            block_ms=100,
        )  # fmt: skip
        task = asyncio.create_task(worker.run_forever(stop))
        started = time.perf_counter()
        try:
            while time.perf_counter() - started < timeout_s:
                async with tenant_tx(pool, tid) as conn:
                    left = await conn.fetchval(
                        """select (select count(*) from inbound_deliveries
                                   where tenant_id = $1 and processed_at is null)
                                + (select count(*) from messages where tenant_id = $1 and turn_state = 'pending')
                                + (select count(*) from threads where tenant_id = $1 and active_run_id is not null)
                                + (select count(*) from outbound_deliveries where tenant_id = $1
                                   and status in ('queued', 'sending'))""",
                        tid,
                    )
                    stored = await conn.fetchval("select count(*) from messages where tenant_id = $1", tid)
                if left == 0 and stored >= len(unique):
                    break
                await asyncio.sleep(0.25)
            drained_s = time.perf_counter() - started
        finally:
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await runtime.close()
            await relay.stop()
    async with tenant_tx(pool, tid) as conn:
        ids = {r["provider_message_id"] for r in await conn.fetch(
            "select provider_message_id from messages where tenant_id = $1 and direction = 'in'", tid)}  # fmt: skip
        inbound_rows = await conn.fetchval(
            "select count(*) from messages where tenant_id = $1 and direction = 'in'", tid
        )
        runs = await conn.fetchval("select count(*) from agent_runs where tenant_id = $1", tid)
        multi_send = await conn.fetchval(
            """select count(*) from (select run_id from outbound_deliveries where tenant_id = $1 and run_id is not null
               group by run_id having count(*) > 1) x""", tid)  # fmt: skip
        outbound = await conn.fetchval("select count(*) from outbound_deliveries where tenant_id = $1", tid)
        sent_ok = await conn.fetchval(
            "select count(*) from outbound_deliveries where tenant_id = $1 and status in ('sent','delivered','read')",
            tid,
        )
        unanswered = await conn.fetchval(
            "select count(*) from messages where tenant_id = $1 and direction = 'in' and turn_state <> 'answered'", tid
        )
        threads = await conn.fetchval("select count(*) from threads where tenant_id = $1", tid)
    await pool.close()
    await relay_pool.close()
    await client.aclose()
    sandbox_sends = len(sandbox.state.sent)
    return {
        "unique_messages": len(unique),
        "inbound_rows": inbound_rows,
        "lost": len(acked - ids),
        "double_rows": inbound_rows - len(ids),
        "threads": threads,
        "luddy_runs": runs,
        "answers_sent": sent_ok,
        "sandbox_sends": sandbox_sends,
        "unanswered_messages": unanswered,
        "double_answers": multi_send + max(0, sandbox_sends - outbound),
        "drain_s": round(drained_s, 2),
    }


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


async def _with_sandbox(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    from tools.channels.whatsapp.sandbox import running_sandbox

    app_secret, token = secrets.token_hex(16), "EAAG" + secrets.token_hex(20)
    async with running_sandbox() as sandbox:
        sandbox.sandbox.state.status_mode = "none"
        gw_tenant, base_tenant = await _prepare(env, sandbox.base_url, app_secret, token)
        port = free_port()
        proc = await asyncio.to_thread(
            subprocess.Popen,
            [sys.executable, "-m", "uvicorn", "--factory", "serve.asgi:create_app", "--port", str(port),
             "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
            env={**os.environ, **env},
        )  # fmt: skip
        try:
            base_url = f"http://127.0.0.1:{port}"
            await asyncio.to_thread(wait_http, f"{base_url}/health", 240)
            unique = round(args.deliveries * (1 - args.duplicates))
            msgs = deliveries(unique, args.duplicates, args.contacts, 7)
            for m in msgs:  # the sandbox opens each contact's 24 h window, as real inbound would
                sandbox.sandbox.state.last_inbound[(PHONE_ID, m["from"])] = time.time()
            url = f"{base_url}/webhooks/whatsapp/{gw_tenant}"
            gw = await drive_gateway(url, app_secret, msgs, args.concurrency)
            base = await drive_baseline(env["DATABASE_URL"], base_tenant, app_secret, msgs, args.concurrency)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
        load_mid = loadavg()
        from tools.channels.whatsapp.sandbox import Account

        sandbox.sandbox.state.accounts[PHONE_ID] = Account(PHONE_ID, token, app_secret)
        acked = {msgs[i]["id"] for i in gw.pop("acked")}
        base.pop("acked")
        check = await drain(env, gw_tenant, sandbox.sandbox, {m["id"] for m in msgs}, acked, args.quiet, 600)
    return {"gateway": gw, "baseline": base, "check": check, "load_mid": load_mid}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--deliveries", type=int, default=2000)
    ap.add_argument("--duplicates", type=float, default=0.2)
    ap.add_argument("--contacts", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--quiet", type=float, default=0.5, help="burst quiet window while draining (default 4 s in prod)")
    args = ap.parse_args()

    pg, rd, db, env = start_bench_database(DATA, "bench_inbox")
    env |= {"TRIDIUM_RATE_LIMIT_WEBHOOKS": "100000000", "TRIDIUM_DB_POOL_MAX": "20"}
    os.environ.update(env)
    load_before = loadavg()
    try:
        out = asyncio.run(_with_sandbox(args, env))
    finally:
        pg.drop_database(db)
        rd.stop()
        pg.stop()
    gw, base, check = out["gateway"], out["baseline"], out["check"]
    rows = [
        {"path": r["name"], "deliveries": r["deliveries"], "msgs/s": r["messages_per_s"], "p50 ms": r["p50_ms"],
         "p95 ms": r["p95_ms"], "p99 ms": r["p99_ms"], "max ms": r["max_ms"], "statuses": r["statuses"]}
        for r in (gw, base)
    ]  # fmt: skip
    print(table(rows, ["path", "deliveries", "msgs/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses"]))
    ratio = round(gw["messages_per_s"] / base["messages_per_s"], 3)
    print(f"gateway / baseline throughput: {ratio}")
    print(f"pipeline check: {check}")
    print(f"load average before {load_before}, after ingest {out['load_mid']}")
    path = write_result(
        "inbox",
        {
            "deliveries": args.deliveries,
            "duplicates": args.duplicates,
            "contacts": args.contacts,
            "concurrency": args.concurrency,
            "quiet_s": args.quiet,
            "server": "uvicorn (1 process, uvloop, httptools) running serve.asgi:create_app",
            "runs": {"gateway": gw, "baseline": base},
            "throughput_ratio_gateway_over_baseline": ratio,
            "check": check,
            "all_200": set(gw["statuses"]) == {"200"},
            "load_average": {"before": load_before, "after_ingest": out["load_mid"]},
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
