"""Search latency through HTTP (``GET /rag/search``, k=6, Ray Serve) at 10k and 100k chunks
in one tenant, next to its parts measured in the same run: the raw SQL statement (asyncpg,
same vectors) and the raw query embedding (``model.encode`` of one query); recall@6 of the
HNSW path against the exact scan; and a tenant holding 1 % of the rows on the HNSW path.

    python -m bench.rag_latency [--queries 100] [--sizes 10000,100000]

Corpus: 10k *real-text* chunks (windows of 1-3 consecutive sentences of the kb-demo
documents and pairs of them, embedded with all-MiniLM-L6-v2) — recall at 10k is measured
on real embeddings only. The 100k corpus adds 90k *synthetic* vectors (a real vector plus
a share of another and Gaussian noise, renormalised; text copied from the real chunk) so
the table has the size and a clustered distribution without 20 minutes of encoding.
Queries: the 40 kb-demo questions plus real corpus texts, cut short. The index policy
decides the path (exact below ``kb_hnsw_threshold`` chunks per tenant, HNSW from there);
the forced other path is reported too. "cold" = query embedding not cached (Redis flushed),
"warm" = cached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import time
from typing import Any

import asyncpg
import httpx
import numpy as np

from bench._common import percentile, table, write_result
from bench._kb import KB_DEMO, kb_platform, load_average

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DIM = 384


def real_texts(n: int, rng: random.Random) -> list[str]:
    from knowledge import parse_document

    sentences: list[str] = []
    for path in sorted((KB_DEMO / "docs").iterdir()):
        if path.name == "comunicado-reforma-moema.pdf":
            continue
        doc = parse_document(path.read_bytes(), filename=path.name)
        parts = [s.strip() for s in re.split(r"(?<=[.!?:])\s+|\n+", doc.text) if len(s.strip()) > 25]
        sentences += parts
    texts: list[str] = []
    seen: set[str] = set()
    for width in (1, 2, 3):
        for i in range(len(sentences) - width + 1):
            t = " ".join(sentences[i : i + width])
            if t not in seen:
                seen.add(t)
                texts.append(t)
    while len(texts) < n:
        t = f"{rng.choice(sentences)} {rng.choice(sentences)}"
        if t not in seen:
            seen.add(t)
            texts.append(t)
    rng.shuffle(texts)
    return texts[:n]


def vec_text(v: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in v) + "]"


async def load(
    pool: asyncpg.Pool, tenant_id: Any, space_id: Any, texts: list[str], vectors: np.ndarray, start: int
) -> None:
    from db.pool import tenant_tx

    per_doc = 1000
    for off in range(0, len(texts), per_doc):
        async with tenant_tx(pool, tenant_id) as conn:
            doc_id = await conn.fetchval(
                "insert into kb_docs (tenant_id, space_id, title, source, kind, embed_model) "
                "values ($1, $2, $3, $4, 'text', $5) returning id",
                tenant_id,
                space_id,
                f"Corpus {start + off}",
                f"corpus-{(start + off) // per_doc}.txt",
                MODEL,
            )
            batch = range(off, min(off + per_doc, len(texts)))
            await conn.execute(
                """insert into kb_vectors (tenant_id, doc_id, space_id, model, dim, chunk_index, chunk, content_hash,
                                           embedding)
                   select $1, $2, $3, $4, $5, r.i, r.t, md5(r.t), r.e::vector
                   from unnest($6::int[], $7::text[], $8::text[]) as r(i, t, e)""",
                tenant_id,
                doc_id,
                space_id,
                MODEL,
                DIM,
                [i - off for i in batch],
                [texts[i] for i in batch],
                [vec_text(vectors[i]) for i in batch],
            )


def synthetic(real: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    a = rng.integers(0, len(real), n)
    b = rng.integers(0, len(real), n)
    v = real[a] + 0.35 * real[b] + rng.normal(0, 0.04, (n, real.shape[1])).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v.astype(np.float32), a


async def timed_sql(pool: asyncpg.Pool, tenant_id: Any, sql: str, args: list[Any], hnsw: bool) -> float:
    from db.pool import tenant_tx

    t = time.perf_counter()
    async with tenant_tx(pool, tenant_id) as conn:
        if hnsw:
            await conn.execute(
                "select set_config('hnsw.ef_search', '100', true), set_config('hnsw.iterative_scan', "
                "'relaxed_order', true), set_config('hnsw.max_scan_tuples', '20000', true)"
            )
        await conn.fetch(sql, *args)
    return (time.perf_counter() - t) * 1000


async def vector_top(pool: asyncpg.Pool, tenant_id: Any, qv: str, k: int, hnsw: bool) -> list[Any]:
    """The vector leg alone: exact ordering, or the HNSW index (as the searcher runs it)."""
    from db.pool import tenant_tx

    async with tenant_tx(pool, tenant_id) as conn:
        if hnsw:
            await conn.execute(
                "select set_config('hnsw.ef_search', '100', true), set_config('hnsw.iterative_scan', "
                "'relaxed_order', true), set_config('hnsw.max_scan_tuples', '20000', true)"
            )
            rows = await conn.fetch(
                f"""select id from (select id, embedding::vector({DIM}) <=> $2::vector({DIM}) as d from kb_vectors
                    where model = '{MODEL}' and dim = {DIM} and tenant_id = $1
                    order by embedding::vector({DIM}) <=> $2::vector({DIM}) limit $3) s order by d""",
                tenant_id,
                qv,
                k,
            )
        else:
            rows = await conn.fetch(
                "select id from kb_vectors where tenant_id = $1 and model = $3 "
                "order by embedding <=> $2::vector limit $4",
                tenant_id,
                qv,
                MODEL,
                k,
            )
    return [r["id"] for r in rows]


def stats(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 50), 2),
        "p95": round(percentile(values, 95), 2),
        "mean": round(statistics.mean(values), 2),
    }


async def measure(
    plat: Any,
    pool: asyncpg.Pool,
    redis_url: str,
    tenant_id: Any,
    headers: dict[str, str],
    queries: list[str],
    qvecs: np.ndarray,
    size: int,
    small: tuple[Any, int] | None,
) -> dict[str, Any]:
    import redis.asyncio as redis

    from core.settings import Settings
    from knowledge.search import exact_sql, hnsw_sql

    out: dict[str, Any] = {"size": size}
    # Which path the policy takes for this tenant (same rule as the searcher).
    from db.pool import tenant_tx

    async with tenant_tx(pool, tenant_id) as conn:
        count = await conn.fetchval("select count(*) from kb_vectors where tenant_id = $1", tenant_id)
    out["chunks"] = count
    threshold = Settings.model_fields["kb_hnsw_threshold"].default
    out["policy_path"] = "hnsw" if count >= threshold else "exact"
    # Raw SQL, both paths, the searcher's statement with the same vectors.
    for path, sql in (("exact", exact_sql()), ("hnsw", hnsw_sql(MODEL, DIM))):
        times = []
        for q, v in zip(queries, qvecs, strict=True):
            args = [tenant_id, vec_text(v), MODEL, q, None, 40, 10.0, 6, 0.5, 3000]
            times.append(await timed_sql(pool, tenant_id, sql, args, path == "hnsw"))
        out[f"sql_{path}_ms"] = stats(times[5:])
    # Recall@6 of the vector leg: HNSW vs exact; and of the hybrid top 6.
    recalls = []
    for v in qvecs:
        exact = await vector_top(pool, tenant_id, vec_text(v), 6, False)
        approx = await vector_top(pool, tenant_id, vec_text(v), 6, True)
        recalls.append(len(set(exact) & set(approx)) / 6)
    out["recall@6_vector_hnsw_vs_exact"] = round(statistics.mean(recalls), 4)
    if small is not None:
        small_id, small_rows = small
        got, rec = [], []
        for v in qvecs:
            exact = await vector_top(pool, small_id, vec_text(v), 6, False)
            approx = await vector_top(pool, small_id, vec_text(v), 6, True)
            got.append(len(approx))
            rec.append(len(set(exact) & set(approx)) / 6)
        out["tenant_1pct"] = {
            "rows": small_rows,
            "min_results_of_6": min(got),
            "recall@6": round(statistics.mean(rec), 4),
        }
    # Through HTTP (Serve): cold (cache flushed) and warm (cached query embeddings).
    cache = redis.from_url(redis_url)
    keys = [k async for k in cache.scan_iter("kb:*:qemb:*")]
    if keys:
        await cache.delete(*keys)
    await cache.aclose()
    async with httpx.AsyncClient(base_url=plat.base_url, headers=headers, timeout=60) as c:
        for label in ("cold", "warm"):
            times = []
            for q in queries:
                t = time.perf_counter()
                r = await c.get("/rag/search", params={"q": q, "k": 6})
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and len(r.json()) == 6, r.text
            out[f"http_{label}_ms"] = stats(times)
    return out


async def run(args: argparse.Namespace, plat: Any) -> dict[str, Any]:
    from core.settings import Settings
    from db.pool import create_pool, tenant_tx
    from knowledge.embedding import LocalSentenceTransformer

    rng = random.Random(7)
    nrng = np.random.default_rng(7)
    settings = Settings()
    sizes = [int(x) for x in args.sizes.split(",")]
    model = LocalSentenceTransformer()
    import torch

    torch.set_num_threads(2)
    n_real = min(10_000, sizes[0])
    texts = real_texts(n_real + 1000, rng)
    t = time.perf_counter()
    vectors = np.asarray(await model.embed(texts), dtype=np.float32)
    encode_s = time.perf_counter() - t
    questions = [json.loads(x)["question"] for x in (KB_DEMO / "questions.jsonl").read_text().splitlines() if x.strip()]
    queries = (questions + [" ".join(t.split()[:12]) for t in rng.sample(texts, args.queries)])[: args.queries]
    # Raw query embedding cost (one query per call, as the searcher does).
    emb_times = []
    for q in queries:
        t0 = time.perf_counter()
        await model.embed([q])
        emb_times.append((time.perf_counter() - t0) * 1000)
    qvecs = np.asarray(await model.embed(queries), dtype=np.float32)

    pool = await create_pool(settings.require_database_url(), max_size=4)
    owner = await asyncpg.connect(plat.owner_url)
    results: list[dict[str, Any]] = []
    try:
        big, headers = await plat.member("big")
        small, _ = await plat.member("small")
        spaces = {}
        for tid in (big, small):
            async with tenant_tx(pool, tid) as conn:
                spaces[tid] = await conn.fetchval(
                    "insert into kb_spaces (tenant_id, name) values ($1, 'bench') returning id", tid
                )
        from knowledge.index_policy import index_name

        idx = index_name(MODEL, DIM)
        loaded = 0
        small_loaded = 0
        for size in sizes:
            await owner.execute(f"drop index if exists {idx}")
            t0 = time.perf_counter()
            need = size - loaded
            if loaded == 0:
                real_n = min(need, n_real)
                await load(pool, big, spaces[big], texts[:real_n], vectors[:real_n], 0)
                loaded += real_n
                need -= real_n
            if need > 0:
                syn, src = synthetic(vectors[:n_real], need, nrng)
                for off in range(0, need, 10_000):
                    part = slice(off, min(off + 10_000, need))
                    await load(pool, big, spaces[big], [texts[i] for i in src[part]], syn[part], loaded + off)
                loaded += need
            small_target = max(size // 100, 100)
            if small_target > small_loaded:
                add = small_target - small_loaded
                await load(pool, small, spaces[small], texts[n_real : n_real + add], vectors[n_real : n_real + add], 0)
                small_loaded = small_target
            load_s = time.perf_counter() - t0
            await owner.execute("set maintenance_work_mem = '1GB'")
            t0 = time.perf_counter()
            await owner.execute(
                f"create index {idx} on kb_vectors using hnsw ((embedding::vector({DIM})) vector_cosine_ops) "
                f"with (m = 16, ef_construction = 64) where model = '{MODEL}' and dim = {DIM}"
            )
            build_s = time.perf_counter() - t0
            await owner.execute("analyze kb_vectors")
            await asyncio.sleep(31)  # the searcher's corpus-size cache (30 s) sees the new size
            m = await measure(
                plat, pool, settings.require_redis_url(), big, headers, queries, qvecs, size, (small, small_loaded)
            )
            m |= {"load_s": round(load_s, 1), "hnsw_build_s": round(build_s, 1), "load_average": load_average()}
            results.append(m)
            print(json.dumps(m), flush=True)
    finally:
        await owner.close()
        await pool.close()
    return {
        "results": results,
        "raw_embedding_ms": stats(emb_times),
        "corpus_encode": {"texts": len(texts), "seconds": round(encode_s, 1)},
        "queries": len(queries),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--sizes", default="10000,100000")
    args = ap.parse_args()
    with kb_platform() as plat:
        out = asyncio.run(run(args, plat))
    rows = []
    for r in out["results"]:
        rows.append(
            {
                "chunks": r["chunks"],
                "path": r["policy_path"],
                "http cold p50/p95": f"{r['http_cold_ms']['p50']}/{r['http_cold_ms']['p95']}",
                "http warm p50/p95": f"{r['http_warm_ms']['p50']}/{r['http_warm_ms']['p95']}",
                "sql exact p50/p95": f"{r['sql_exact_ms']['p50']}/{r['sql_exact_ms']['p95']}",
                "sql hnsw p50/p95": f"{r['sql_hnsw_ms']['p50']}/{r['sql_hnsw_ms']['p95']}",
                "recall@6": r["recall@6_vector_hnsw_vs_exact"],
                "1% tenant min k / recall": f"{r['tenant_1pct']['min_results_of_6']} / {r['tenant_1pct']['recall@6']}",
            }
        )
    print(
        f"\nSearch latency, k=6, ms ({out['queries']} queries; raw query embedding p50/p95 "
        f"{out['raw_embedding_ms']['p50']}/{out['raw_embedding_ms']['p95']} ms)\n"
    )
    print(table(rows, list(rows[0])))
    big = out["results"][-1]
    out["targets"] = {
        "p95_http_cold_le_50ms_at_largest": big["http_cold_ms"]["p95"] <= 50,
        "p95_http_warm_le_50ms_at_largest": big["http_warm_ms"]["p95"] <= 50,
        "recall@6_ge_0.95": all(r["recall@6_vector_hnsw_vs_exact"] >= 0.95 for r in out["results"]),
    }
    print(f"\ntargets: {out['targets']}\nload average: {load_average()}")
    print(f"wrote {write_result('rag_latency', out)}")


if __name__ == "__main__":
    main()
