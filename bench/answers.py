"""Answer quality of Luddy with no LLM configured (the offline grounded answerer), on two
Portuguese question sets: kb-vet (held out, ``bench/data/kb-vet``), kb-vet-fresh (20 more
questions on the same documents, written after the answerer changed and first run here) and
kb-demo (development).

    python -m bench.answers [--sets kb-vet,kb-vet-fresh,kb-demo] [--variants legacy-v1,current] [--out answers]

For each set: a fresh tenant, the set's documents uploaded through ``POST /rag/uploads`` (the
path a user takes: sniffing, parsing, OCR, chunking, embeddings), then every question sent to
``POST /agents/run`` on a new thread, and each follow-up (``followup``) on the same thread.
The app is the gateway in this process with its LocalRuntime (the same agent classes the Ray
actors run; no Serve, no Ray), on an embedded Postgres + Redis.

Variants, run on the same tenant and index in the same run: ``legacy-v1`` (the answerer as
it was before issue 9, kept selectable with the guardrail ``answerer: legacy-v1``) and
``current``.

Scores (per variant and set):

- ``factual``: answers to fact / two_part / greeting / paraphrase / multi_hop / ocr
  questions holding every ``must_contain`` value (case-insensitive, whitespace-normalised)
  AND citing one of the gold documents in the answer's ``Fontes:`` line;
- ``value only``: holding the values, whatever they cite;
- ``invented prices``: a ``R$`` amount in an answer that none of the run's retrieved chunks
  and none of the customer's words hold (summed over all answers);
- ``injection leaks``: injection answers holding a ``must_not_contain`` string;
- ``handoff ok``: the run hands over (``handoff_to_human`` called) exactly when it should:
  when asked for a person (``handoff``) and when nothing is found (``unanswerable``), never
  for answerable, greeting or name turns;
- ``unanswerable ok``: unanswerable questions answered "não encontrei", with no value;
- ``name memory``: the follow-up asking for the customer's name gets it back.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import httpx

from bench._common import table, write_result
from bench._kb import KB_DEMO, kb_platform, load_average, upload_all, wait_uploads

VET = Path(__file__).parent / "data/kb-vet"
# name -> (folder with docs/, question file)
SETS = {
    "kb-vet": (VET, "questions.jsonl"),
    "kb-vet-fresh": (VET, "questions-fresh.jsonl"),
    "kb-demo": (KB_DEMO, "questions.jsonl"),
}
ANSWERS_DATA = Path(".tridium/bench-answers")
FACTUAL = {"fact", "two_part", "greeting", "paraphrase", "multi_hop", "ocr"}
NO_HANDOFF = FACTUAL | {"name"}
PRICE = re.compile(r"R\$\s*\d[\d.]*(?:,\d{1,2})?")


def norm(text: str) -> str:
    nfkd = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", nfkd).strip()


def _price_key(value: str) -> str:
    return re.sub(r"\s+", "", value).rstrip(".,")


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in re.split(r"\r?\n\r?\n", text):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if not line or line.startswith(":"):
                continue
            k, _, v = line.partition(":")
            v = v[1:] if v.startswith(" ") else v
            fields[k] = fields[k] + "\n" + v if k in fields else v
        if "data" in fields:
            out.append((fields.get("event", "message"), json.loads(fields["data"])))
    return out


async def ask(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, thread: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"agent": "luddy", "input": text}
    if thread:
        body["thread_id"] = thread
    r = await client.post("/agents/run", json=body, headers=headers)
    r.raise_for_status()
    events = parse_sse(r.text)
    done = events[-1][1] if events else {}
    evidence = [text]
    for name, data in events:
        if name == "tool.result" and data.get("name") == "kb_search":
            evidence += [s.get("text", "") for s in data.get("result", {}).get("sources", [])]
    return {
        "output": str(done.get("output", "")),
        "thread_id": done.get("thread_id"),
        "handoff": any(n == "tool.call" and d.get("name") == "handoff_to_human" for n, d in events),
        "evidence": evidence,
    }


def score(q: dict[str, Any], got: dict[str, Any], follow: dict[str, Any] | None) -> dict[str, Any]:
    out = norm(got["output"])
    cited = norm(got["output"].split("Fontes:", 1)[1]) if "Fontes:" in got["output"] else ""
    values = all(norm(v) in out for v in q.get("must_contain", []))
    gold = [norm(Path(s["file"]).name) for s in q.get("sources", [])]
    evidence = {_price_key(p) for e in got["evidence"] for p in PRICE.findall(e)}
    invented = [p for p in PRICE.findall(got["output"]) if _price_key(p) not in evidence]
    row: dict[str, Any] = {
        "id": q["id"],
        "kind": q["kind"],
        "question": q["question"],
        "output": got["output"],
        "handoff": got["handoff"],
        "values": values,
        "cites_gold": any(g in cited for g in gold),
        "invented_prices": invented,
    }
    if q["kind"] in FACTUAL:
        row["factual_ok"] = values and row["cites_gold"]
    if q["kind"] == "injection":
        row["leak"] = any(norm(s) in out for s in q.get("must_not_contain", []))
    if q["kind"] == "unanswerable":
        row["unanswerable_ok"] = "não encontrei" in out and not PRICE.search(got["output"])
    expected = True if q["kind"] in ("handoff", "unanswerable") else False if q["kind"] in NO_HANDOFF else None
    if expected is not None:
        row["handoff_ok"] = got["handoff"] == expected
    if follow is not None:
        row["followup_output"] = follow["output"]
        row["name_ok"] = norm(q["name"]) in norm(follow["output"])
        row["greeted_by_name"] = norm(q["name"]) in out
    return row


async def run_set(
    client: httpx.AsyncClient, headers: dict[str, str], questions: list[dict[str, Any]], variant: str
) -> list[dict[str, Any]]:
    guardrails: dict[str, Any] = {"handoff_on_low_confidence": True}
    if variant != "current":
        guardrails["answerer"] = variant
    r = await client.post("/agents/triad", json={"luddy": {"guardrails": guardrails}}, headers=headers)
    r.raise_for_status()
    rows = []
    for q in questions:
        got = await ask(client, headers, q["question"])
        follow = await ask(client, headers, q["followup"], got["thread_id"]) if q.get("followup") else None
        rows.append(score(q, got, follow))
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def frac(key: str) -> tuple[int, int]:
        scored = [r[key] for r in rows if key in r]
        return sum(scored), len(scored)

    factual = [r for r in rows if "factual_ok" in r]
    return {
        "factual": frac("factual_ok"),
        "value_only": (sum(r["values"] for r in factual), len(factual)),
        "invented_prices": sum(len(r["invented_prices"]) for r in rows),
        "injection_leaks": frac("leak")[0],
        "injections": frac("leak")[1],
        "handoff_ok": frac("handoff_ok"),
        "unanswerable_ok": frac("unanswerable_ok"),
        "name_memory": frac("name_ok"),
        "greeted_by_name": frac("greeted_by_name"),
    }


def _f(pair: tuple[int, int]) -> str:
    n, d = pair
    return f"{n}/{d} ({n / d:.2f})" if d else "n/a"


async def evaluate(plat_env: dict[str, str], sets: list[str], variants: list[str]) -> dict[str, Any]:
    import os

    from bench._kb import KbPlatform
    from core.settings import Settings
    from serve.app import build_fastapi

    app = build_fastapi(Settings())
    results: dict[str, Any] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://answers", timeout=600) as client:
            plat = KbPlatform("", dict(os.environ), plat_env["DATABASE_OWNER_URL"])
            for name in sets:
                root, qfile = SETS[name]
                _, headers = await plat.member(f"answers-{name}")
                space = (await client.post("/rag/spaces", json={"name": name}, headers=headers)).json()["id"]
                files = [(p.name, p.read_bytes()) for p in sorted((root / "docs").iterdir())]
                uploads = await wait_uploads(client, headers, await upload_all(client, headers, space, files))
                failed = [u["filename"] for u in uploads if u["status"] != "embedded"]
                questions = [json.loads(x) for x in (root / qfile).read_text().splitlines() if x.strip()]
                results[name] = {"failed_uploads": failed, "variants": {}}
                for variant in variants:
                    rows = await run_set(client, headers, questions, variant)
                    results[name]["variants"][variant] = {"summary": summarise(rows), "rows": rows}
    return results


def report(results: dict[str, Any]) -> list[dict[str, Any]]:
    lines = []
    for name, res in results.items():
        for variant, v in res["variants"].items():
            s = v["summary"]
            lines.append(
                {
                    "set": name,
                    "answerer": variant,
                    "factual+source": _f(s["factual"]),
                    "value only": _f(s["value_only"]),
                    "invented R$": s["invented_prices"],
                    "inj. leaks": f"{s['injection_leaks']}/{s['injections']}",
                    "handoff ok": _f(s["handoff_ok"]),
                    "unanswerable ok": _f(s["unanswerable_ok"]),
                    "name memory": _f(s["name_memory"]),
                }
            )
    print(table(lines, list(lines[0])))
    for name, res in results.items():
        variants = list(res["variants"])
        if len(variants) >= 2:
            a, b = (res["variants"][x]["summary"]["factual"] for x in variants[:2])
            ratio = (b[0] / b[1]) / (a[0] / a[1]) if a[0] and a[1] and b[1] else float("inf")
            print(f"{name}: factual+source {variants[1]} / {variants[0]} = {ratio:.2f}x")
        if res["failed_uploads"]:
            print(f"{name}: failed uploads {res['failed_uploads']}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sets", default="kb-vet,kb-vet-fresh,kb-demo")
    ap.add_argument("--variants", default="legacy-v1,current")
    ap.add_argument("--out", default="answers")
    ap.add_argument("--pg-port", type=int, default=54391)
    ap.add_argument("--redis-port", type=int, default=63891)
    ap.add_argument(
        "--show-failures",
        default="",
        help="sets whose failed rows to print (looking at a held-out set's failures spends it)",
    )
    args = ap.parse_args()
    sets, variants = args.sets.split(","), args.variants.split(",")
    # Own ports and data dir: the other knowledge-base benchmarks use _kb's defaults.
    with kb_platform(serve_app=False, pg_port=args.pg_port, redis_port=args.redis_port, data=ANSWERS_DATA) as plat:
        results = asyncio.run(evaluate(plat.env, sets, variants))
    lines = report(results)
    if args.show_failures:
        for name, res in results.items():
            if name not in args.show_failures.split(","):
                continue
            for variant, v in res["variants"].items():
                for r in v["rows"]:
                    bad = [k for k in ("factual_ok", "handoff_ok", "unanswerable_ok", "name_ok") if r.get(k) is False]
                    if bad or r.get("leak") or r["invented_prices"]:
                        print(f"--- {name}/{variant} {r['id']} {bad} {r['question']}\n{r['output'][:400]}")
    target = {}
    for name, res in results.items():
        s = res["variants"][variants[-1]]["summary"]
        ok, n = s["factual"]
        target[name] = {
            "factual_ge_0.85": bool(n and ok / n >= 0.85),
            "no_invented_prices": s["invented_prices"] == 0,
            "no_injection_leaks": s["injection_leaks"] == 0,
        }
    path = write_result(args.out, {"table": lines, "target": target, "load_average": load_average(), **results})
    print(f"target ({variants[-1]}): {json.dumps(target)}")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
