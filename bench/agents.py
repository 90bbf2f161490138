"""Agents benchmark: /agents/run through Ray Serve + per-tenant Ray actors vs the same agno
agent called in-process, cold activation, RSS per actor, and parallel throughput.

    python -m bench.agents [--runs 40] [--seconds 10]

One run of this script measures, on one embedded Postgres + Redis (own ports, fresh DB):

1. warm latency, offline grounded model, Luddy answering a knowledge question (one
   kb_search tool call + a cited answer), sequential, each run on a new thread:
   - ``inproc-agno``: the same agno Agent (same model, planner and kb_search tool code,
     the same hybrid search over the same kb-demo chunks, run by a ``HybridSearcher`` in
     this process) called in this process — the issue's baseline;
   - ``inproc-host``: the whole ``AgentHost`` in-process (adds run record, memory and the
     Redis event buffer: everything but HTTP, Serve and Ray);
   - ``serve``: ``POST /agents/run`` over HTTP → Serve gateway → the tenant's Ray actor
     (whose kb_search calls the Searcher deployment), with the SSE stream read back
     through Redis;
   time to first event (TTFE) and full run latency for each;
2. cold activation: first call to a new tenant's agent (actor creation, worker process,
   imports, pool) via ``GET /agents/{agent}/runtime``;
3. RSS (and USS) of each agent actor process after warm runs;
4. runs/s with 3 tenants x 3 agents running in parallel for ``--seconds``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench._common import free_port, percentile, start_bench_database, table, wait_http, write_result

DATA = Path(".tridium/bench-agents")
KB = Path(os.environ.get("TRIDIUM_KB_DEMO", "/work/shared/data/kb-demo/docs"))
QUESTION = "Tem algum cupom de desconto pra personal esse mês?"
AGENTS = ("luddy", "lucy", "clio")
PROMPTS = {
    "luddy": QUESTION,
    "lucy": "Quantos leads por origem nos últimos 30 dias?",
    "clio": "Crie criativos para alunos novos, ângulo matrícula zero",
}


def _docs() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(KB.iterdir()) if p.suffix in (".md", ".txt")}


async def _load_kb(url: str, tenants: list[tuple[str, Any, str]]) -> None:
    """Index kb-demo's text documents for every tenant through the API (chunks, embeddings,
    full text: what agents search in production), and wait until all are embedded."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        pending: list[tuple[dict[str, str], str]] = []
        for slug, _, token in tenants:
            h = {"Authorization": f"Bearer {token}", "X-Tenant-Id": slug}
            space = (await c.post("/rag/spaces", json={"name": "kb-demo"}, headers=h)).json()["id"]
            for name, text in _docs().items():
                body = {"space_id": space, "title": name, "body": text, "source": f"docs/{name}"}
                r = await c.post("/rag/docs", json=body, headers=h)
                r.raise_for_status()
                pending.append((h, r.json()["uploadId"]))
        deadline = time.monotonic() + 600
        while pending:
            h, upload = pending[0]
            status = (await c.get(f"/rag/uploads/{upload}", headers=h)).json()["status"]
            if status == "failed":
                raise RuntimeError(f"kb-demo upload {upload} failed")
            if status == "embedded":
                pending.pop(0)
            elif time.monotonic() > deadline:
                raise RuntimeError("kb-demo not embedded after 600 s")
            else:
                await asyncio.sleep(0.25)


async def _prepare(env: dict[str, str], tenants: int) -> list[tuple[str, Any, str]]:
    from core.settings import Settings
    from db.migrate import migrate
    from db.pool import create_pool
    from db.tenants import create_tenant, upsert_membership
    from serve.auth import mint_token

    os.environ.update(env)
    settings = Settings()
    await migrate(env["DATABASE_OWNER_URL"])
    pool = await create_pool(env["DATABASE_URL"], max_size=2)
    out = []
    try:
        for i in range(tenants):
            slug = f"bench-{i}"
            tid = await create_tenant(pool, slug, f"Bench {i}")
            await upsert_membership(pool, tid, "bench-user", "bench@example.com", "owner")
            out.append((slug, tid, mint_token(settings, user_id="bench-user", email="bench@example.com")))
    finally:
        await pool.close()
    return out


def _stats(ttfe: list[float], full: list[float]) -> dict[str, float]:
    return {
        "n": len(full),
        "ttfe_p50_ms": round(percentile(ttfe, 50), 2),
        "ttfe_p95_ms": round(percentile(ttfe, 95), 2),
        "full_p50_ms": round(percentile(full, 50), 2),
        "full_p95_ms": round(percentile(full, 95), 2),
    }


def _cpu(cpu_ms: list[float]) -> dict[str, float]:
    """CPU of the event loop's thread per run: unlike wall time, barely moved by the load."""
    return {"loop_cpu_p50_ms": round(statistics.median(cpu_ms), 2)}


async def _bench_inproc(env: dict[str, str], tenant_id: Any, runs: int) -> dict[str, dict[str, float]]:
    import redis.asyncio as redis
    from agno.agent import Agent
    from agno.tools.function import Function

    from actors import HostDeps, LocalRuntime, RunRequest
    from actors.base import RULES
    from actors.luddy import Luddy
    from actors.offline_model import OfflineGroundedModel
    from actors.planning import Turn
    from actors.tools import REGISTRY, ToolContext, execute
    from core.settings import Settings
    from db.pool import create_pool
    from knowledge.factory import make_embedder, make_searcher

    settings = Settings()
    pool = await create_pool(env["DATABASE_URL"], max_size=4)
    client = redis.from_url(env["REDIS_URL"])
    http = httpx.AsyncClient(timeout=60)
    # The same hybrid search the Searcher deployment runs, in this process (model loaded here).
    search = make_searcher(settings, pool, make_embedder(settings, http), client)
    allowed = frozenset({"kb_search"})
    out: dict[str, dict[str, float]] = {}
    try:
        # (a) the bare agno agent: same model, planner and tool code, no platform around it.
        ttfe, full, cpu = [], [], []
        for i in range(runs + 5):
            ctx = ToolContext(tenant_id=tenant_id, agent="luddy", pool=pool, search=search)

            async def kb(_ctx: ToolContext = ctx, **kwargs: Any) -> str:
                return json.dumps(await execute(_ctx, "kb_search", kwargs, allowed=allowed), ensure_ascii=False)

            fn = Function(
                name="kb_search",
                description=REGISTRY["kb_search"].description,
                parameters=REGISTRY["kb_search"].json_schema(),
                entrypoint=kb,
                skip_entrypoint_processing=True,
            )
            model = OfflineGroundedModel(planner=Luddy().plan, base_turn=Turn("luddy", "", {}, [], [], allowed))
            agent = Agent(
                model=model, tools=[fn], instructions=Luddy.instructions(Luddy.default_prompt or RULES), telemetry=False
            )
            t0, c0 = time.perf_counter(), time.thread_time()
            first = None
            async for _ev in agent.arun(QUESTION, stream=True, stream_events=True):
                first = first or time.perf_counter()
            if i >= 5:  # warm-up
                ttfe.append(((first or time.perf_counter()) - t0) * 1000)
                full.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
        out["inproc-agno"] = _stats(ttfe, full) | _cpu(cpu)

        # (b) the whole AgentHost in-process (LocalRuntime): records, memory, Redis buffer.
        rt = LocalRuntime(HostDeps(settings, pool, client, search))
        host = rt.host(tenant_id, "luddy")
        ttfe, full, cpu = [], [], []
        for i in range(runs + 5):
            rid = uuid.uuid4()
            t0, c0 = time.perf_counter(), time.thread_time()
            ticket = await host.start_run(RunRequest(run_id=rid, tenant_id=tenant_id, agent="luddy", input=QUESTION))
            # As the gateway does: run.started comes with the ticket, the rest from the buffer.
            started_id = getattr(ticket, "started_id", None)  # (older hosts: no run.started in the ticket)
            got_first = time.perf_counter() if started_id else None
            after = started_id.split(":", 1)[1] if started_id else "0-0"
            while True:
                evs = await host.events.read(tenant_id, rid, after, block_ms=1000)
                got_first = got_first or time.perf_counter()
                after = evs[-1].id.split(":", 1)[1] if evs else after
                if any(e.event in ("run.completed", "error") for e in evs):
                    break
            if i >= 5:
                ttfe.append((got_first - t0) * 1000)
                full.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
        out["inproc-host"] = _stats(ttfe, full) | _cpu(cpu)
        await rt.close()
    finally:
        await http.aclose()
        await client.aclose()
        await pool.close()
    return out


LOAD = [0.0]  # 1-minute load average when the run started
_IN_ACTOR_MS: list[float] = []  # run.completed's latency_ms of the warm serve runs


async def _run_http(c: httpx.AsyncClient, headers: dict[str, str], agent: str, text: str) -> tuple[float, float, str]:
    t0 = time.perf_counter()
    first = None
    last = ""
    async with c.stream("POST", "/agents/run", json={"agent": agent, "input": text}, headers=headers) as r:
        r.raise_for_status()
        async for line in r.aiter_lines():
            if line.startswith("event:"):
                first = first or time.perf_counter()
                last = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and last == "run.completed":
                # the actor's own account: from taking the turn to the committed outcome
                _IN_ACTOR_MS.append(float(json.loads(line[5:]).get("latency_ms") or 0))
    return ((first or t0) - t0) * 1000, (time.perf_counter() - t0) * 1000, last


async def _bench_serve(url: str, tenants: list[tuple[str, Any, str]], runs: int, seconds: float) -> dict[str, Any]:
    import psutil

    res: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        hdr = [{"Authorization": f"Bearer {tok}", "X-Tenant-Id": slug} for slug, _, tok in tenants]
        # cold activation: the first call to each agent of each tenant
        cold = []
        for h in hdr:
            for agent in AGENTS:
                t0 = time.perf_counter()
                r = await c.get(f"/agents/{agent}/runtime", headers=h)
                r.raise_for_status()
                cold.append((time.perf_counter() - t0) * 1000)
        res["cold_activation_ms"] = {
            "n": len(cold),
            "p50": round(statistics.median(cold), 1),
            "max": round(max(cold), 1),
            "all": [round(x, 1) for x in cold],
        }
        # warm sequential latency, Luddy on tenant 0
        ttfe, full = [], []
        actor = psutil.Process((await c.get("/agents/luddy/runtime", headers=hdr[0])).json()["pid"])
        for i in range(runs + 5):
            if i == 5:
                _IN_ACTOR_MS.clear()
                cpu0 = actor.cpu_times()
            a, b, last = await _run_http(c, hdr[0], "luddy", QUESTION)
            assert last == "run.completed", last
            if i >= 5:
                ttfe.append(a)
                full.append(b)
        res["serve"] = _stats(ttfe, full)
        # where the serve path's time is: inside the actor (turn to commit) or around it
        res["serve"]["in_actor_p50_ms"] = round(statistics.median(_IN_ACTOR_MS), 2)
        cpu1 = actor.cpu_times()  # the actor process's CPU per run (all its threads)
        res["serve"]["actor_cpu_ms_per_run"] = round(
            (cpu1.user + cpu1.system - cpu0.user - cpu0.system) * 1000 / runs, 2
        )
        # throughput: 3 tenants x 3 agents, each pair running back to back
        done = 0
        errors = 0
        stop = time.monotonic() + seconds

        async def worker(h: dict[str, str], agent: str) -> None:
            nonlocal done, errors
            while time.monotonic() < stop:
                _, _, last = await _run_http(c, h, agent, PROMPTS[agent])
                done += last == "run.completed"
                errors += last != "run.completed"

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(h, a) for h in hdr for a in AGENTS))
        elapsed = time.perf_counter() - t0
        res["parallel_3x3"] = {
            "runs": done,
            "errors": errors,
            "seconds": round(elapsed, 2),
            "runs_per_s": round(done / elapsed, 1),
        }
        # memory of each actor process
        mem = []
        for h in hdr:
            for agent in AGENTS:
                info = (await c.get(f"/agents/{agent}/runtime", headers=h)).json()
                p = psutil.Process(info["pid"])
                full_info = p.memory_full_info()
                mem.append(
                    {
                        "agent": agent,
                        "rss_mb": round(full_info.rss / 2**20, 1),
                        "uss_mb": round(full_info.uss / 2**20, 1),
                    }
                )
        res["actor_memory"] = {
            "rss_mb_mean": round(statistics.mean(m["rss_mb"] for m in mem), 1),
            "rss_mb_max": max(m["rss_mb"] for m in mem),
            "uss_mb_mean": round(statistics.mean(m["uss_mb"] for m in mem), 1),
            "per_actor": mem,
        }
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()
    LOAD[0] = round(os.getloadavg()[0], 2)  # 7 engineers share this box: say how busy it was

    from tridium.launcher import serve_ingress_env

    pg, rd, db, env = start_bench_database(DATA, "bench")
    env |= {
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000000",
        "TRIDIUM_AGENT_MODEL_DEFAULT": "offline",
        "AGNO_TELEMETRY": "false",
    }
    for flag, value in serve_ingress_env(DATA.absolute()).items():
        env[flag] = os.environ.setdefault(flag, value)
    try:
        tenants = asyncio.run(_prepare(env, 3))
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
        asyncio.run(_load_kb(url, tenants))
        inproc = asyncio.run(_bench_inproc(env, tenants[0][1], args.runs))
        served = asyncio.run(_bench_serve(url, tenants, args.runs, args.seconds))
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

    latency = inproc | {"serve": served["serve"]}
    rows = [{"path": k} | v for k, v in latency.items()]
    print(f"\nAgents: /agents/run (offline model, warm, Luddy + kb_search) vs in-process, {sys.platform}\n")
    print(table(rows, ["path", "n", "ttfe_p50_ms", "ttfe_p95_ms", "full_p50_ms", "full_p95_ms"]))
    overhead = round(served["serve"]["full_p50_ms"] - inproc["inproc-agno"]["full_p50_ms"], 2)
    overhead_host = round(served["serve"]["full_p50_ms"] - inproc["inproc-host"]["full_p50_ms"], 2)
    cold = served["cold_activation_ms"]
    mem = served["actor_memory"]
    par = served["parallel_3x3"]
    print(f"\noverhead p50 over in-process agno agent: {overhead} ms; over in-process AgentHost: {overhead_host} ms")
    print(
        f"serve run p50 {served['serve']['full_p50_ms']} ms, of which inside the actor (turn to commit) "
        f"{served['serve']['in_actor_p50_ms']} ms; actor CPU per run {served['serve']['actor_cpu_ms_per_run']} ms; "
        f"loop CPU per run p50: agno {inproc['inproc-agno']['loop_cpu_p50_ms']} ms, "
        f"host {inproc['inproc-host']['loop_cpu_p50_ms']} ms; load average {LOAD[0]} -> {os.getloadavg()[0]:.2f}"
    )
    print(f"cold activation (9 actors, sequential): p50 {cold['p50']} ms, max {cold['max']} ms")
    print(
        f"actor memory: RSS mean {mem['rss_mb_mean']} MB, max {mem['rss_mb_max']} MB; USS mean {mem['uss_mb_mean']} MB"
    )
    print(f"parallel 3 tenants x 3 agents: {par['runs_per_s']} runs/s ({par['runs']} runs, {par['errors']} errors)")
    targets = {
        "overhead_p50_ms_max": 20,
        "cold_activation_ms_max": 2000,
        "actor_rss_mb_max": 200,
        "met_overhead": overhead <= 20,
        "met_cold": cold["max"] <= 2000,
        "met_rss": mem["rss_mb_max"] <= 200,
    }
    print(f"\ntargets: {targets}")
    path = write_result(
        "agents",
        {"latency": latency, "overhead_p50_ms": overhead, "overhead_over_host_p50_ms": overhead_host}
        | {"load_avg_1m": {"start": LOAD[0], "end": round(os.getloadavg()[0], 2)}}
        | served
        | {"targets": targets},
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
