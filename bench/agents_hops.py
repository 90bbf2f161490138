"""Where a Serve ``/agents/run`` spends its time outside the agent: per-hop probe.

    python -m bench.agents_hops [--n 40]

Starts the same stack as ``bench.agents`` (embedded Postgres + Redis, Ray Serve behind its
HAProxy ingress, no knowledge base loaded) and times, alternating, on one warm Luddy actor:

- ``404_noauth`` / ``404_auth``: an unknown path — the gateway's floor per request (HTTP,
  the edge middleware, JWT check and the Redis rate limit when authenticated; no route);
- ``runtime``: ``GET /agents/luddy/runtime`` — the floor + the tenant dependency + one Ray
  call to the agent actor (``info``, no database);
- ``run_ttfe`` / ``run_full``: ``POST /agents/run`` (the knowledge base is empty here, so
  the search finds nothing: compare the TTFE, not the full time, with ``bench.agents``);

each through HAProxy and directly at the gateway replica's direct-ingress port, so the
proxy's share shows too. Numbers move 20-40 % with the load of this shared box: read the
differences within one run, with its load average.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import httpx

from bench import agents as ba
from bench._common import free_port, start_bench_database, table, wait_http

DATA = Path(".tridium/bench-agents-hops")


def _direct_port() -> int | None:
    lo = int(os.environ["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"])
    for port in range(lo, lo + 64):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return port
        except OSError:
            continue
    return None


async def _probe(url: str, tenants: list[tuple[str, Any, str]], n: int) -> list[dict[str, Any]]:
    slug, _, token = tenants[0]
    auth = {"Authorization": f"Bearer {token}", "X-Tenant-Id": slug}
    res: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as proxy:
        (await proxy.get("/agents/luddy/runtime", headers=auth)).raise_for_status()  # activate
        await asyncio.sleep(3)  # let the actor's warm-up finish
        port = _direct_port()
        clients = [(proxy, "haproxy")]
        direct = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) if port else None
        if direct is not None:
            clients.append((direct, "direct"))
        try:
            for _ in range(n):
                for client, via in clients:
                    for name, path, headers in (
                        ("404_noauth", "/nope", {}),
                        ("404_auth", "/nope", auth),
                        ("runtime", "/agents/luddy/runtime", auth),
                    ):
                        t0 = time.perf_counter()
                        await client.get(path, headers=headers)
                        res.setdefault(f"{via} {name}", []).append((time.perf_counter() - t0) * 1000)
                    ttfe, full, _ = await ba._run_http(client, auth, "luddy", ba.QUESTION)
                    res.setdefault(f"{via} run_ttfe", []).append(ttfe)
                    res.setdefault(f"{via} run_full", []).append(full)
        finally:
            if direct is not None:
                await direct.aclose()
    return [
        {"probe": k, "n": len(v), "p50_ms": round(statistics.median(v), 2), "min_ms": round(min(v), 2)}
        for k, v in res.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=40)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    from tridium.launcher import serve_ingress_env

    pg, rd, db, env = start_bench_database(DATA, "hops")
    env |= {
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000000",
        "TRIDIUM_AGENT_MODEL_DEFAULT": "offline",
        "AGNO_TELEMETRY": "false",
    }
    for flag, value in serve_ingress_env(DATA.absolute()).items():
        env[flag] = os.environ.setdefault(flag, value)
    try:
        tenants = asyncio.run(ba._prepare(env, 1))
        import ray
        from ray import serve

        from serve.deployments import build_app

        port = free_port()
        ray.init(
            namespace="tridium-bench",
            runtime_env={"env_vars": env},
            include_dashboard=False,
            object_store_memory=128 * 1024 * 1024,
            logging_level="WARNING",
            log_to_driver=False,
        )
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app(env), name="tridium", route_prefix="/", blocking=False)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/health")
        rows = asyncio.run(_probe(url, tenants, args.n))
    finally:
        try:
            import ray
            from ray import serve

            if ray.is_initialized():
                serve.shutdown()
                ray.shutdown()
        finally:
            pg.drop_database(db)
            rd.stop()
            pg.stop()
    print(f"\nAgents: per-hop probe (load average {load0:.2f} -> {os.getloadavg()[0]:.2f})\n")
    print(table(rows, ["probe", "n", "p50_ms", "min_ms"]))


if __name__ == "__main__":
    main()
