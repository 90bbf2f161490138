"""Gateway benchmark: GET /leads and POST /leads through Ray Serve vs the same FastAPI app
under plain uvicorn, on the same database, in one run.

    python -m bench.gateway [--seconds 15] [--concurrency 16]

Both servers run the identical app (``serve.app.build_fastapi``) against one embedded
Postgres + Redis (own data dir and ports, fresh database each run). The load generator is wrk
(one thread, keep-alive connections, a unique Idempotency-Key per POST); it shares the
2 cores with the servers, equally for both. Rate limits are raised so they do not cap
the load. Each measured run is preceded by a 3 s warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench._common import Run, free_port, start_bench_database, table, wait_http, write_result
from bench.wrk import require_wrk, run_wrk

DATA = Path(".tridium/bench")


async def _prepare(env: dict[str, str]) -> str:
    from core.settings import Settings
    from db.migrate import migrate
    from db.pool import create_pool
    from db.tenants import create_tenant, upsert_membership
    from serve.auth import mint_token

    os.environ.update(env)
    settings = Settings()
    await migrate(env["DATABASE_OWNER_URL"])
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    try:
        tid = await create_tenant(pool, "bench", "Bench")
        await upsert_membership(pool, tid, "bench-user", "bench@example.com", "owner")
        # Seed 200 leads so GET /leads pages over a realistic table.
        from db import crm
        from db.pool import tenant_tx

        async with tenant_tx(pool, tid) as conn:
            for i in range(200):
                await crm.create_lead(conn, tid, {"name": f"Seed {i}", "source": "instagram" if i % 2 else "ads"})
    finally:
        await pool.close()
    return mint_token(settings, user_id="bench-user", email="bench@example.com")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=15, help="duration of each measured run")
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--replicas", type=int, default=1, help="Serve Gateway replicas")
    args = ap.parse_args()
    require_wrk()

    pg, rd, db, env = start_bench_database(DATA, "bench", pg_port=54349, redis_port=63829)
    env |= {
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000000",
        "TRIDIUM_DB_POOL_MAX": "20",
    }
    # The same Serve ingress flags as `tridium up` (HAProxy ingress + throughput mode);
    # set them to 0 in the environment to measure Serve's Python proxy instead.
    from tridium.launcher import serve_ingress_env

    for flag, value in serve_ingress_env(DATA.absolute()).items():
        env[flag] = os.environ.setdefault(flag, value)
    uvicorn_proc: subprocess.Popen[bytes] | None = None
    try:
        token = asyncio.run(_prepare(env))
        headers = {"Authorization": f"Bearer {token}", "X-Tenant-Id": "bench", "Content-Type": "application/json"}

        uv_port = free_port()
        uvicorn_proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "serve.asgi:create_app",
                "--port",
                str(uv_port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env={**os.environ, **env},
        )
        import ray
        from ray import serve

        from serve.deployments import build_app

        serve_port = free_port()
        ray.init(
            namespace="tridium-bench",
            runtime_env={"env_vars": env},
            include_dashboard=False,
            object_store_memory=128 * 1024 * 1024,
            logging_level="WARNING",
            log_to_driver=False,
        )
        serve.start(http_options={"host": "127.0.0.1", "port": serve_port})
        serve.run(build_app(env, gateway_replicas=args.replicas), name="tridium", route_prefix="/", blocking=False)
        uv_url, serve_url = f"http://127.0.0.1:{uv_port}", f"http://127.0.0.1:{serve_port}"
        wait_http(f"{uv_url}/health")
        wait_http(f"{serve_url}/health")

        post_body = '{"name": "Bench {n}", "email": "b{n}@example.com", "source": "bench"}'
        routes = (("GET /leads", "GET", "/leads?limit=20", ""), ("POST /leads", "POST", "/leads", post_body))
        runs: dict[str, dict[str, Run]] = {}
        for route, method, path, body in routes:
            runs[route] = {}
            for mode, url in (("uvicorn", uv_url), ("serve", serve_url)):
                run_wrk("warmup", url, method, path, headers, body, seconds=3, connections=args.concurrency)
                runs[route][mode] = run_wrk(
                    f"{route} {mode}",
                    url,
                    method,
                    path,
                    headers,
                    body,
                    seconds=args.seconds,
                    connections=args.concurrency,
                )
    finally:
        try:
            import ray
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()
                ray.shutdown()
        finally:
            if uvicorn_proc is not None:
                uvicorn_proc.terminate()
                uvicorn_proc.wait(timeout=20)
            pg.drop_database(db)
            rd.stop()
            pg.stop()

    rows = []
    summary: dict[str, Any] = {}
    for route, modes in runs.items():
        uv, sv = modes["uvicorn"], modes["serve"]
        ratio = round(sv.p50_ms / uv.p50_ms, 2)
        summary[route] = {"p50_ratio_serve_over_uvicorn": ratio, "serve_rps": sv.rps, "uvicorn_rps": uv.rps}
        for mode, r in modes.items():
            rows.append(
                {
                    "route": route,
                    "server": mode,
                    "requests": r.requests,
                    "errors": r.errors,
                    "p50 ms": r.p50_ms,
                    "p95 ms": r.p95_ms,
                    "p99 ms": r.p99_ms,
                    "req/s": r.rps,
                    "p50 ratio": ratio if mode == "serve" else "",
                }
            )
    cols = ["route", "server", "requests", "errors", "p50 ms", "p95 ms", "p99 ms", "req/s", "p50 ratio"]
    print(
        f"\nGateway: Ray Serve ({args.replicas} Gateway replica(s), HAProxy ingress) vs plain uvicorn (1 process);"
        f" wrk, {args.concurrency} connections, {args.seconds}s per run, same app, same database\n"
    )
    print(table(rows, cols))
    targets = {
        "serve_p50_ratio_max": 1.5,
        "post_leads_rps_min": 300,
        "met_ratio": all(v["p50_ratio_serve_over_uvicorn"] <= 1.5 for v in summary.values()),
        "met_post_rps": summary["POST /leads"]["serve_rps"] >= 300,
    }
    print(f"\ntargets: {targets}")
    path = write_result(
        "gateway" if args.replicas == 1 else f"gateway-{args.replicas}-replicas",
        {
            "concurrency": args.concurrency,
            "replicas": args.replicas,
            "seconds": args.seconds,
            "runs": runs,
            "summary": summary,
            "targets": targets,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
