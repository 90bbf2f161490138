"""Retrieval quality on kb-demo: ingest the nine documents through the API, run the 40
questions of questions.jsonl through ``GET /rag/search`` and report hit@k by question kind.

    python -m bench.rag_eval [--inprocess] [--k 1,3,6,8]

A question is a hit at k when one of its gold sources is among the top k results: the same
file, and for PDFs the same page. Unanswerable questions have no gold source: they are
listed apart (their top score, for a future "I don't know" threshold), not counted.
Target: hit@6 >= 0.90 on the answerable questions.

Default: the Serve application (as ``tridium up``), ingestion as Ray tasks. ``--inprocess``
runs the same FastAPI app in this process (ingestion as asyncio tasks) for quick tuning.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

from bench._common import table, write_result
from bench._kb import KB_DEMO, kb_platform, load_average, upload_all, wait_uploads


def is_hit(hits: list[dict[str, Any]], sources: list[dict[str, Any]], k: int) -> bool:
    top = hits[:k]
    for gold in sources:
        name = Path(gold["file"]).name
        for h in top:
            if h["source"] == name and (gold["page"] is None or h["page"] == gold["page"]):
                return True
    return False


async def evaluate(client: httpx.AsyncClient, headers: dict[str, str], ks: list[int]) -> dict[str, Any]:
    space = (await client.post("/rag/spaces", json={"name": "kb-demo"}, headers=headers)).json()["id"]
    files = [(p.name, p.read_bytes()) for p in sorted((KB_DEMO / "docs").iterdir())]
    t0 = time.perf_counter()
    ids = await upload_all(client, headers, space, files)
    uploads = await wait_uploads(client, headers, ids)
    ingest_s = time.perf_counter() - t0
    questions = [json.loads(x) for x in (KB_DEMO / "questions.jsonl").read_text().splitlines() if x.strip()]
    kmax = max(ks)
    per_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    latencies = []
    for q in questions:
        t = time.perf_counter()
        r = await client.get("/rag/search", params={"q": q["question"], "k": kmax}, headers=headers)
        latencies.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
        hits = r.json()
        per_kind[q["kind"]].append(
            {
                "id": q["id"],
                "hits": {k: is_hit(hits, q["sources"], k) for k in ks} if q["sources"] else None,
                "top": [(h["source"], h["page"]) for h in hits[:3]],
                "top_score": hits[0]["score"] if hits else None,
                "gold": [(Path(s["file"]).name, s["page"]) for s in q["sources"]],
            }
        )
    return {"uploads": uploads, "ingest_s": ingest_s, "per_kind": per_kind, "latencies_ms": latencies}


def report(result: dict[str, Any], ks: list[int], mode: str) -> dict[str, Any]:
    rows = []
    answerable: list[dict[str, Any]] = []
    for kind, items in sorted(result["per_kind"].items()):
        scored = [i for i in items if i["hits"] is not None]
        answerable += scored
        row: dict[str, Any] = {"kind": kind, "n": len(items)}
        for k in ks:
            row[f"hit@{k}"] = f"{sum(i['hits'][k] for i in scored) / len(scored):.2f}" if scored else "n/a"
        rows.append(row)
    total: dict[str, Any] = {"kind": "ANSWERABLE", "n": len(answerable)}
    for k in ks:
        total[f"hit@{k}"] = f"{sum(i['hits'][k] for i in answerable) / len(answerable):.2f}"
    rows.append(total)
    print(
        f"\nRetrieval on kb-demo ({mode}; {len(result['uploads'])} documents, ingested in {result['ingest_s']:.1f}s)\n"
    )
    print(table(rows, ["kind", "n", *[f"hit@{k}" for k in ks]]))
    misses = [i for i in answerable if not i["hits"][6 if 6 in ks else max(ks)]]
    if misses:
        print("\nmisses at k=6:")
        for m in misses:
            print(f"  {m['id']}: gold {m['gold']} top {m['top']}")
    status = {u["filename"]: (u["status"], u["progress"]["total"], u["error"]) for u in result["uploads"]}
    hit6 = sum(i["hits"][6] for i in answerable) / len(answerable) if 6 in ks else None
    return {"rows": rows, "uploads": status, "hit@6_answerable": hit6, "target_met": bool(hit6 and hit6 >= 0.90)}


async def _inprocess(ks: list[int]) -> tuple[dict[str, Any], str]:
    from core.settings import Settings
    from serve.app import build_fastapi

    app = build_fastapi(Settings())
    async with app.router.lifespan_context(app), kb_member_client(app) as (client, headers):
        return await evaluate(client, headers, ks), "in-process app"


class kb_member_client:
    def __init__(self, app: Any) -> None:
        self._app = app

    async def __aenter__(self) -> tuple[httpx.AsyncClient, dict[str, str]]:
        import os

        from bench._kb import KbPlatform

        plat = KbPlatform("", dict(os.environ), os.environ["DATABASE_OWNER_URL"])
        _, self._headers = await plat.member("eval")
        transport = httpx.ASGITransport(app=self._app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://eval", timeout=600)
        return self._client, self._headers

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inprocess", action="store_true")
    ap.add_argument("--k", default="1,3,6,8")
    args = ap.parse_args()
    ks = [int(x) for x in args.k.split(",")]
    with kb_platform(serve_app=not args.inprocess) as plat:
        if args.inprocess:
            result, mode = asyncio.run(_inprocess(ks))
        else:

            async def run() -> dict[str, Any]:
                _, headers = await plat.member("eval")
                async with httpx.AsyncClient(base_url=plat.base_url, timeout=600) as client:
                    return await evaluate(client, headers, ks)

            result, mode = asyncio.run(run()), "Ray Serve, Ray ingestion tasks"
    summary = report(result, ks, mode)
    summary["load_average"] = load_average()
    print(f"\nhit@6 on answerable questions: {summary['hit@6_answerable']:.3f} (target >= 0.90)")
    print(f"load average: {summary['load_average']}")
    path = write_result("rag_eval", {"mode": mode, **summary, "per_kind": result["per_kind"]})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
