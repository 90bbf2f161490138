"""Webhook ingestion benchmark: Asaas deliveries through the gateway vs a bare INSERT loop.

    python -m bench.webhooks [--events 4000] [--duplicates 0.2] [--concurrency 32]

In one run, on one embedded Postgres + Redis (own data dir and ports, fresh database):

1. **gateway** — the gateway app (``serve.asgi``, uvicorn, one process) receives
   ``POST /webhooks/asaas`` with the tenant's token: authenticate (token hash, constant
   time), store the raw event once and its outbox event in one transaction, answer 200.
   20 % of the deliveries are duplicates (same event id), all shuffled.
2. **baseline** — a bare asyncpg loop doing ``INSERT … ON CONFLICT DO NOTHING`` into the
   same ``asaas_events`` table (tenant transaction, same concurrency, same duplicates).

Checks: every delivery answered 200 (zero lost: every acknowledged id is stored), exactly
one row and one ``asaas.event.received`` outbox event per unique id (zero double effects).
The load generator shares the machine's cores with the server; the load average is
reported before and after.

``--compare [--serve]`` runs the gateway's webhook paths (``VARIANTS``: ``full``,
``lean-tx``, ``lean-1rt``) interleaved in one run, round after round, with the CPU each
process group spent per delivery. With ``--serve`` they run through the whole ``tridium``
Serve app (HAProxy ingress, the Gateway redeployed per path, then a wait until the
restarted replicas are idle), and each round also drives the default path under plain
uvicorn (``uvicorn``) next to the running app: ``ratios`` holds Serve over uvicorn alone
per path, measured in the same run. The default ``--serve`` paths are ``lean-1rt`` (the
Gateway behind HAProxy), ``listener`` (ADR 0009, the URL providers are given — the target
is judged on it), ``uvicorn`` (the same app alone) and ``uvicorn-1stmt`` (alone, with group
commit off: one statement and one commit per delivery, ADR 0010's baseline).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench._common import free_port, percentile, start_bench_database, table, wait_http, write_result

DATA = Path(".tridium/bench-webhooks")


def deliveries(
    prefix: str, unique: int, duplicate_share: float, seed: int, *, payments: bool = True
) -> list[dict[str, Any]]:
    """``unique`` events plus duplicates making ``duplicate_share`` of all deliveries, shuffled.

    ``payments=False`` sends account events (no ``payment``): on Serve the PaymentsWorker
    then settles each one in a local transaction instead of asking Asaas (absent here)."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = [
        {
            "id": f"evt_{prefix}_{i:07d}&{rng.randrange(10**9)}",
            "event": rng.choice(["PAYMENT_CREATED", "PAYMENT_CONFIRMED", "PAYMENT_RECEIVED"]),
            "dateCreated": "2026-11-26 12:00:00",
            "payment": {"object": "payment", "id": f"pay_{prefix}{i:07d}", "value": 199.9, "status": "PENDING"},
        }
        for i in range(unique)
    ]
    if not payments:
        for e in events:
            del e["payment"]
            e["event"] = "ACCOUNT_STATUS_GENERAL_APPROVAL_APPROVED"
    dups = round(unique * duplicate_share / (1 - duplicate_share))
    out = events + [rng.choice(events) for _ in range(dups)]
    rng.shuffle(out)
    return out


async def _prepare(env: dict[str, str]) -> tuple[str, str, str]:
    from core.tenancy import TenantId
    from db import payments as q
    from db.migrate import migrate
    from db.pool import create_pool, tenant_tx
    from db.tenants import create_tenant
    from tools.payments import new_webhook_token, token_hash

    await migrate(env["DATABASE_OWNER_URL"])
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    try:
        gw = TenantId(await create_tenant(pool, "bench-gw", "Bench gateway"))
        base = TenantId(await create_tenant(pool, "bench-base", "Bench baseline"))
        token = new_webhook_token(gw)
        async with tenant_tx(pool, gw) as conn:
            await q.upsert_integration(conn, gw, base_url="http://127.0.0.1:9", api_key_ref="sandbox")
            await q.set_webhook(
                conn,
                gw,
                webhook_id="bench",
                url="",
                send_type="NON_SEQUENTIALLY",
                events=[],
                token_hash=token_hash(token),
            )
    finally:
        await pool.close()
    return str(gw), str(base), token


async def drive_gateway(url: str, token: str, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    acked: list[int] = []
    queue = iter(range(len(bodies)))
    headers = {"asaas-access-token": token, "Content-Type": "application/json", "User-Agent": "Asaas_Prod/3.0"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for i in queue:
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
    return _summary("gateway POST /webhooks/asaas", latencies, elapsed, statuses, acked)


async def drive_baseline(dsn: str, tenant: str, events: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    from core.tenancy import TenantId
    from db.pool import create_pool, tenant_tx

    pool = await create_pool(dsn, min_size=concurrency, max_size=concurrency)
    tid = TenantId(__import__("uuid").UUID(tenant))
    latencies: list[float] = []
    acked: list[int] = []
    queue = iter(range(len(events)))

    async def worker() -> None:
        for i in queue:
            e = events[i]
            t0 = time.perf_counter()
            async with tenant_tx(pool, tid) as conn:
                await conn.execute(
                    """insert into asaas_events (tenant_id, event_id, event_type, payment_id, payload)
                       values ($1, $2, $3, $4, $5) on conflict (tenant_id, event_id) do nothing""",
                    tid,
                    e["id"],
                    e["event"],
                    (e.get("payment") or {}).get("id"),
                    e,
                )
            latencies.append((time.perf_counter() - t0) * 1000)
            acked.append(i)

    try:
        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return _summary("baseline asyncpg INSERT ON CONFLICT", latencies, elapsed, {200: len(acked)}, acked)


def _summary(
    name: str, latencies: list[float], elapsed: float, statuses: dict[int, int], acked: list[int]
) -> dict[str, Any]:
    return {
        "name": name,
        "deliveries": len(latencies),
        "seconds": round(elapsed, 3),
        "events_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "max_ms": round(max(latencies), 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "acked": acked,
    }


async def verify(dsn: str, tenant: str, acked_ids: set[str], unique_ids: set[str], outbox: bool) -> dict[str, Any]:
    """Zero lost (every acked id stored) and zero double effects (one row, one outbox event per id)."""
    from core.tenancy import TenantId
    from db.pool import create_pool, tenant_tx

    pool = await create_pool(dsn, max_size=1)
    tid = TenantId(__import__("uuid").UUID(tenant))
    try:
        async with tenant_tx(pool, tid) as conn:
            stored = [
                r["event_id"] for r in await conn.fetch("select event_id from asaas_events where tenant_id = $1", tid)
            ]
            emitted = [
                r["e"]
                for r in await conn.fetch(
                    """select payload->>'event_id' as e from event_log
                       where tenant_id = $1 and type = 'asaas.event.received'""",
                    tid,
                )
            ]
    finally:
        await pool.close()
    result = {
        "unique_events": len(unique_ids),
        "rows": len(stored),
        "lost": len(acked_ids - set(stored)),
        "double_rows": len(stored) - len(set(stored)),
        "missing_rows": len(unique_ids - set(stored)),
    }
    if outbox:
        result |= {"outbox_events": len(emitted), "double_outbox": len(emitted) - len(set(emitted))}
    return result


def _start_serve(
    env: dict[str, str], port: int, replicas: int, variant: dict[str, str] | None = None, webhook_port: int = 0
) -> None:
    """The whole ``tridium`` Serve application, as ``tridium up`` deploys it (with the
    webhook listener on ``webhook_port``, ADR 0009)."""
    import ray
    from ray import serve

    from tridium.launcher import serve_ingress_env

    # The same Serve ingress as `tridium up` (HAProxy + throughput mode), private ports.
    for flag, value in serve_ingress_env(DATA.absolute()).items():
        env[flag] = os.environ.setdefault(flag, value)
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(
        namespace="tridium-bench-webhooks",
        runtime_env={"env_vars": env},
        include_dashboard=False,
        object_store_memory=128 * 1024 * 1024,
        logging_level="WARNING",
        log_to_driver=False,
    )
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    _deploy(env, replicas, variant, webhook_port)


def _deploy(env: dict[str, str], replicas: int, variant: dict[str, str] | None, webhook_port: int = 0) -> None:
    """(Re)deploy the app; ``variant`` (Gateway-only settings) switches the Gateway's webhook
    path. ``serve.run`` returns once the new replicas serve (all of them restart, see _settle)."""
    from ray import serve

    from serve.deployments import build_app

    app = build_app(env, gateway_replicas=replicas, gateway_env=variant, webhook_port=webhook_port)
    serve.run(app, name="tridium", route_prefix="/", blocking=False)


def _stop_serve() -> None:
    import ray
    from ray import serve

    if ray.is_initialized():
        serve.shutdown()
        ray.shutdown()


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# The gateway's webhook path, as Gateway-only settings:
# - full: FastAPI route + dependencies, Redis rate-limit round trip, tenant transaction of
#   four Postgres round trips (the path before ADR 0006);
# - lean-tx: the lean ASGI ingress with an in-process per-IP budget (ADR 0006), same
#   tenant transaction;
# - lean-1rt: the lean ingress storing with one autocommit statement on the reset-free
#   webhook pool (ADR 0008) — the default.
VARIANTS: dict[str, dict[str, str]] = {
    "full": {"TRIDIUM_WEBHOOK_LEAN_INGRESS": "false", "TRIDIUM_WEBHOOK_ONE_CALL": "false"},
    "lean-tx": {"TRIDIUM_WEBHOOK_LEAN_INGRESS": "true", "TRIDIUM_WEBHOOK_ONE_CALL": "false"},
    "lean-1rt": {"TRIDIUM_WEBHOOK_LEAN_INGRESS": "true", "TRIDIUM_WEBHOOK_ONE_CALL": "true"},
}
NEW = "lean-1rt"
# With --serve: the webhook listener (ADR 0009) — the Serve-managed replica serving
# /webhooks/* with its own uvicorn server on its own port, the URL providers are given.
LISTENER = "listener"
# With --serve --compare: the same default path under plain uvicorn (one process, no
# HAProxy/Serve), interleaved with the Serve rounds against the same running app — the
# "uvicorn alone" baseline the Serve figures are divided by.
UVICORN = "uvicorn"
# The same under uvicorn with group commit off (ADR 0010): one statement, one commit per
# delivery, as before it — what group commit itself is worth, in the same run.
UVICORN_1STMT = "uvicorn-1stmt"
UVICORNS: dict[str, dict[str, str]] = {
    UVICORN: VARIANTS[NEW],
    UVICORN_1STMT: {**VARIANTS[NEW], "TRIDIUM_WEBHOOK_GROUP_COMMIT": "false"},
}
SERVE_PATHS = [NEW, LISTENER, UVICORN, UVICORN_1STMT]  # --serve --compare default: no redeploys


def cpu_by_process() -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) used so far by every live process, with its group: each
    Serve deployment, HAProxy, Postgres, Redis, Ray's own daemons, this load generator,
    other. Keyed by pid, so a delta counts each process against its own earlier sample (a
    process that exits in between — an idle pool connection's backend — takes its CPU with
    it instead of making its group's sum go down)."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out: dict[int, tuple[str, float]] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(pid) == me:
            label = "load generator (bench)"
        elif "ServeReplica:" in cmd:
            # "ray::ServeReplica:tridium:Searcher" — or "...:Searcher.check_health" while it runs one.
            label = "Serve " + cmd.split("ServeReplica:", 1)[1].split()[0].split(":")[-1].split(".")[0]
        elif "ServeController" in cmd:
            label = "Serve controller"
        elif "ProxyActor" in cmd:
            label = "Serve proxy actor"
        elif "ray::" in cmd:
            label = "other Ray workers"
        elif "haproxy" in cmd:
            label = "HAProxy"
        elif "postgres" in cmd:
            label = "Postgres"
        elif "redis-server" in cmd:
            label = "Redis"
        elif any(d in cmd for d in ("raylet", "gcs_server", "dashboard", "log_monitor", "ray/_private")):
            label = "Ray daemons"
        elif "uvicorn" in cmd and "serve.asgi" in cmd:
            label = "uvicorn gateway"
        elif "serve.webhooks.listener" in cmd:
            label = "webhook listener process"
        else:
            label = "other processes (not this benchmark)"
        out[int(pid)] = (label, seconds)
    return out


def cpu_by_component() -> dict[str, float]:
    """:func:`cpu_by_process` summed per group."""
    out: dict[str, float] = {}
    for label, seconds in cpu_by_process().values():
        out[label] = out.get(label, 0.0) + seconds
    return out


def _bus_backlog() -> int:
    """Entries the bus consumer groups have not handled yet: pending ones, plus one for each
    group not yet past the stream's last entry (XINFO's ``lag`` is not reliable)."""
    import redis as redis_sync

    with redis_sync.Redis.from_url(os.environ["REDIS_URL"]) as client:
        stream = os.environ.get("TRIDIUM_EVENTS_STREAM", "tridium:events")
        if not client.exists(stream):
            return 0
        last: Any = client.xinfo_stream(stream)["last-generated-id"]
        groups: Any = client.xinfo_groups(stream)
        return sum(int(g["pending"]) + (g["last-delivered-id"] != last) for g in groups)


def _settle(max_s: float = 180.0, busy_cores: float = 0.6) -> float:
    """Before a round, wait until the platform is quiet; returns the seconds waited: the bus
    consumer groups have caught up with the previous round (else the handling of its events
    would be billed to this one) and Ray's processes use less than ``busy_cores`` (replicas
    a redeploy restarted are up: ``serve.run`` of an in-memory app gives every deployment a
    fresh random version in Ray 2.60, so switching the Gateway's settings restarts all of
    them, the Embedder loading its model included). Not "idle": the platform at rest keeps
    some CPU busy itself (a dozen replicas polling, health checks, Ray's daemons)."""
    started = time.monotonic()

    def ray_cpu() -> float:
        cpu = cpu_by_component()
        return sum(v for k, v in cpu.items() if k.startswith("Serve ") or k in ("other Ray workers", "Ray daemons"))

    last = ray_cpu()
    while time.monotonic() - started < max_s:
        time.sleep(2.0)
        now = ray_cpu()
        if (now - last) / 2.0 < busy_cores and _bus_backlog() == 0:
            break
        last = now
    return round(time.monotonic() - started, 1)


def _cpu_delta(
    before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], events: int
) -> dict[str, float]:
    """CPU milliseconds per delivery, per group, between two samples: each live process
    against its own earlier sample (new ones count from zero; ones that exited in between
    are not counted)."""
    spent: dict[str, float] = {}
    for pid, (label, seconds) in after.items():
        earlier = before.get(pid)
        spent[label] = spent.get(label, 0.0) + seconds - (earlier[1] if earlier else 0.0)
    return {k: round(v * 1000 / events, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1]) if v > 0.001}


def _start_uvicorn(env: dict[str, str], variant: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc_env = {**os.environ, **env, **variant}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "serve.asgi:create_app", "--port", str(port)]
    cmd += ["--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"]
    return subprocess.Popen(cmd, env=proc_env), f"http://127.0.0.1:{port}"


def compare(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """The webhook paths (``VARIANTS``) in one run, interleaved ``full, lean-tx, lean-1rt,
    full, …`` so all see the same drift in machine load; CPU per delivery per component.
    With ``--serve`` each round also drives the default path under plain uvicorn
    (``UVICORN``) next to the running Serve app: the baseline of the Serve/uvicorn ratio."""
    procs: list[subprocess.Popen[bytes]] = []
    gw_tenant, base_tenant, token = asyncio.run(_prepare(env))
    urls: dict[str, str] = {}
    if args.paths:
        names = args.paths.split(",")
        known = [*VARIANTS, LISTENER, *UVICORNS] if args.serve else list(VARIANTS)
        if unknown := [n for n in names if n not in known]:
            raise SystemExit(f"unknown --paths {unknown}; choose from {known}")
    else:
        names = SERVE_PATHS if args.serve else list(VARIANTS)
    current = next((n for n in names if n in VARIANTS), NEW)
    try:
        if args.serve:
            port, webhook_port = free_port(), free_port()
            _start_serve(env, port, args.replicas, VARIANTS[current], webhook_port)
            urls = dict.fromkeys(VARIANTS, f"http://127.0.0.1:{port}")
            urls[LISTENER] = f"http://127.0.0.1:{webhook_port}"
            for name in [n for n in UVICORNS if n in names]:
                proc, urls[name] = _start_uvicorn(env, UVICORNS[name])
                procs.append(proc)
        else:
            for name, variant in VARIANTS.items():
                proc, urls[name] = _start_uvicorn(env, variant)
                procs.append(proc)
        for base_url in set(urls.values()):
            wait_http(f"{base_url}/health", timeout=240)
        if args.serve:
            _settle()  # the Embedder loads its model after serve.run returns
        rounds: list[dict[str, Any]] = []
        acked: set[str] = set()
        unique: set[str] = set()
        for r in range(args.rounds):
            for name in names:
                settled = 0.0
                if args.serve and name in VARIANTS and current != name:
                    _deploy(env, args.replicas, VARIANTS[name], webhook_port)
                    wait_http(f"{urls[name]}/health", timeout=240)
                    current = name
                if args.serve:
                    # Each round starts with the platform idle: replicas a redeploy restarted
                    # are up, and the bus consumers have caught up with the previous round
                    # (else its events' handling would be billed to this one).
                    settled = _settle()
                url = f"{urls[name]}/webhooks/asaas"
                warm = deliveries(f"warm-{name}{r}", 200, 0.0, 1 + r, payments=not args.serve)
                asyncio.run(drive_gateway(url, token, [json.dumps(e).encode() for e in warm], args.concurrency))
                events = deliveries(f"{name}{r}", args.events, args.duplicates, 7 + r, payments=not args.serve)
                bodies = [json.dumps(e).encode() for e in events]
                before, cpu_before = loadavg(), cpu_by_process()
                run = asyncio.run(drive_gateway(url, token, bodies, args.concurrency))
                cpu = _cpu_delta(cpu_before, cpu_by_process(), len(bodies))
                run |= {"variant": name, "round": r, "load_before": before, "load_after": loadavg()}
                run["settle_s"] = settled
                run["cpu_ms_per_delivery"] = cpu
                acked |= {events[i]["id"] for i in run.pop("acked")} | {e["id"] for e in warm}
                unique |= {e["id"] for e in events} | {e["id"] for e in warm}
                rounds.append(run)
                print(
                    f"round {r} {name}: {run['events_per_s']} events/s, p50 {run['p50_ms']} p99 {run['p99_ms']} ms, "
                    f"load {before} -> {run['load_after']}, settled {settled} s, CPU ms/delivery {cpu}",
                    flush=True,
                )
        base_events = deliveries("base", args.events, args.duplicates, 7)
        base = asyncio.run(drive_baseline(env["DATABASE_URL"], base_tenant, base_events, args.concurrency))
        base.pop("acked")
        check = asyncio.run(verify(env["DATABASE_URL"], gw_tenant, acked, unique, outbox=True))
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        if args.serve:
            _stop_serve()
    summary: dict[str, Any] = {}
    for name in names:
        mine = [x for x in rounds if x["variant"] == name]
        summary[name] = {
            "events_per_s_median": round(statistics.median(x["events_per_s"] for x in mine), 1),
            "p99_ms_median": round(statistics.median(x["p99_ms"] for x in mine), 1),
            "p50_ms_median": round(statistics.median(x["p50_ms"] for x in mine), 1),
        }
    for name in names:
        mine = [x for x in rounds if x["variant"] == name]
        summary[name] |= {
            "events_per_s_min": min(x["events_per_s"] for x in mine),
            "events_per_s_max": max(x["events_per_s"] for x in mine),
            "p99_ms_min": min(x["p99_ms"] for x in mine),
            "p99_ms_max": max(x["p99_ms"] for x in mine),
            "cpu_ms_per_delivery_median": {
                k: round(statistics.median(x["cpu_ms_per_delivery"].get(k, 0.0) for x in mine), 3)
                for k in sorted({k for x in mine for k in x["cpu_ms_per_delivery"]})
            },
        }
    summary["ratios"] = {}
    if NEW in names:
        new = summary[NEW]["events_per_s_median"]
        summary["ratios"] = {
            f"{NEW}_over_{name}": round(new / summary[name]["events_per_s_median"], 2)
            for name in VARIANTS
            if name != NEW and name in names
        }
    if LISTENER in names:
        listener = summary[LISTENER]["events_per_s_median"]
        summary["ratios"] |= {
            f"{LISTENER}_over_gateway_{name}": round(listener / summary[name]["events_per_s_median"], 2)
            for name in VARIANTS
            if name in names
        }
    if UVICORN in names:
        # Serve over uvicorn alone, per path (the 220 vs 628 was full-path Serve / uvicorn).
        alone = summary[UVICORN]["events_per_s_median"]
        summary["ratios"] |= {
            f"serve_{name}_over_uvicorn": round(summary[name]["events_per_s_median"] / alone, 2)
            for name in [*VARIANTS, LISTENER]
            if name in names
        }
    if UVICORN in names and UVICORN_1STMT in names:  # what group commit is worth (ADR 0010)
        summary["ratios"]["group_commit_uvicorn_over_uvicorn_1stmt"] = round(
            summary[UVICORN]["events_per_s_median"] / summary[UVICORN_1STMT]["events_per_s_median"], 2
        )
    rows = [
        {
            "round": x["round"],
            "path": x["variant"],
            "events/s": x["events_per_s"],
            "p50 ms": x["p50_ms"],
            "p95 ms": x["p95_ms"],
            "p99 ms": x["p99_ms"],
            "statuses": x["statuses"],
            "load 1m before→after": f"{x['load_before'][0]} → {x['load_after'][0]}",
        }
        for x in rounds
    ]
    cols = ["round", "path", "events/s", "p50 ms", "p95 ms", "p99 ms", "statuses", "load 1m before→after"]
    print(table(rows, cols))
    print(f"baseline INSERT: {base['events_per_s']} events/s, p99 {base['p99_ms']} ms")
    for name in names:
        print(f"{name}: median CPU ms per delivery {summary[name]['cpu_ms_per_delivery_median']}")
    print(f"summary {summary}")
    print(f"check {check}")
    return {"rounds": rounds, "summary": summary, "baseline": base, "check": check, "paths": names}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4000, help="unique events per side")
    ap.add_argument("--duplicates", type=float, default=0.2, help="share of deliveries that are duplicates")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--serve", action="store_true", help="run the gateway on Ray Serve instead of uvicorn")
    ap.add_argument("--replicas", type=int, default=2, help="Gateway replicas with --serve (tridium up: 2)")
    ap.add_argument(
        "--compare", action="store_true", help="full path vs lean ingress (ADR 0006) vs one statement (ADR 0008)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="rounds of each path with --compare")
    ap.add_argument(
        "--paths",
        help=f"comma-separated paths for --compare (--serve default {','.join(SERVE_PATHS)}; "
        f"also {','.join(VARIANTS)}: switching among those redeploys the app between rounds)",
    )
    ap.add_argument(
        "--via",
        choices=["listener", "gateway"],
        default="listener",
        help="single --serve run: the webhook listener (ADR 0009, what providers are given) or the gateway",
    )
    args = ap.parse_args()

    pg, rd, db, env = start_bench_database(DATA, "bench_wh")
    env |= {
        "TRIDIUM_RATE_LIMIT_WEBHOOKS": "100000000",
        "TRIDIUM_DB_POOL_MAX": "20",
    }
    os.environ.update(env)
    proc: subprocess.Popen[bytes] | None = None
    load_before = loadavg()
    if args.compare:
        try:
            result = compare(args, env)
        finally:
            pg.drop_database(db)
            rd.stop()
            pg.stop()
        ok = result["check"]["lost"] == 0 and result["check"]["double_rows"] == 0
        ok = ok and result["check"]["double_outbox"] == 0 and result["check"]["missing_rows"] == 0
        # The target is judged on the path providers are given: the listener when measured.
        primary = LISTENER if LISTENER in result["paths"] else NEW
        lean = result["summary"][primary]
        result["targets"] = {
            "path": primary,
            "events_per_s_min": 500,
            "ack_p99_ms_max": 100,
            "met_throughput": lean["events_per_s_median"] >= 500,
            "met_p99": lean["p99_ms_median"] < 100,
            "all_200": all(set(x["statuses"]) == {"200"} for x in result["rounds"]),
            "zero_lost_zero_double": ok,
        }
        print(f"targets {result['targets']}")
        name = "webhooks-serve-compare" if args.serve else "webhooks-compare"
        server = f"Ray Serve (tridium app, {args.replicas} Gateway replica(s))" if args.serve else "uvicorn x2"
        payload = {"events": args.events, "duplicates": args.duplicates, "concurrency": args.concurrency}
        print(f"wrote {write_result(name, payload | {'server': server} | result)}")
        return
    try:
        gw_tenant, base_tenant, token = asyncio.run(_prepare(env))
        port = free_port()
        if args.serve:
            webhook_port = free_port()
            _start_serve(env, port, args.replicas, webhook_port=webhook_port)
            wait_http(f"http://127.0.0.1:{port}/health", timeout=240)
            _settle()
            if args.via == "listener":
                port = webhook_port
        else:
            proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "serve.asgi:create_app", "--port", str(port),
                 "--log-level", "warning", "--no-access-log", "--loop", "uvloop", "--http", "httptools"],
                env={**os.environ, **env},
            )  # fmt: skip
        base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{base_url}/health", timeout=240)
        url = f"{base_url}/webhooks/asaas"
        warm = [json.dumps(e).encode() for e in deliveries("warm", 300, 0.0, 1)]
        asyncio.run(drive_gateway(url, token, warm, args.concurrency))
        gw_events = deliveries("gw", args.events, args.duplicates, 7, payments=not args.serve)
        gw = asyncio.run(drive_gateway(url, token, [json.dumps(e).encode() for e in gw_events], args.concurrency))
        base_events = deliveries("base", args.events, args.duplicates, 7)
        base = asyncio.run(drive_baseline(env["DATABASE_URL"], base_tenant, base_events, args.concurrency))
        load_after = loadavg()
        gw_check = asyncio.run(
            verify(
                env["DATABASE_URL"],
                gw_tenant,
                {gw_events[i]["id"] for i in gw.pop("acked")},
                {e["id"] for e in gw_events} | {e["id"] for e in deliveries("warm", 300, 0.0, 1)},
                outbox=True,
            )
        )
        base_check = asyncio.run(
            verify(
                env["DATABASE_URL"],
                base_tenant,
                {base_events[i]["id"] for i in base.pop("acked")},
                {e["id"] for e in base_events},
                outbox=False,
            )
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        if args.serve:
            _stop_serve()
        pg.drop_database(db)
        rd.stop()
        pg.stop()

    rows = [
        {
            "path": r["name"],
            "deliveries": r["deliveries"],
            "events/s": r["events_per_s"],
            "p50 ms": r["p50_ms"],
            "p95 ms": r["p95_ms"],
            "p99 ms": r["p99_ms"],
            "max ms": r["max_ms"],
            "statuses": r["statuses"],
        }
        for r in (gw, base)
    ]
    print(table(rows, ["path", "deliveries", "events/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses"]))
    ok_status = set(gw["statuses"]) == {"200"}
    zero = gw_check["lost"] == 0 and gw_check["double_rows"] == 0 and gw_check["double_outbox"] == 0
    zero = zero and gw_check["missing_rows"] == 0 and gw_check["outbox_events"] == gw_check["unique_events"]
    targets = {
        "events_per_s_min": 500,
        "ack_p99_ms_max": 100,
        "met_throughput": gw["events_per_s"] >= 500,
        "met_p99": gw["p99_ms"] < 100,
        "all_200": ok_status,
        "zero_lost_zero_double": zero,
    }
    print(f"gateway check: {gw_check}")
    print(f"baseline check: {base_check}")
    print(f"load average before {load_before}, after {load_after}; targets {targets}")
    path = write_result(
        "webhooks-serve" if args.serve else "webhooks",
        {
            "events": args.events,
            "duplicates": args.duplicates,
            "concurrency": args.concurrency,
            "server": f"Ray Serve (tridium app, {args.replicas} Gateway replica(s)), via the {args.via}"
            if args.serve
            else "uvicorn (1 process, uvloop, httptools) running serve.asgi:create_app",
            "runs": {"gateway": gw, "baseline": base},
            "checks": {"gateway": gw_check, "baseline": base_check},
            "load_average": {"before": load_before, "after": load_after},
            "targets": targets,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
