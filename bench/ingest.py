"""Ingestion throughput: chunks/s of the whole pipeline (HTTP upload → sweeper → Ray task
per file → parse → chunk → Embedder deployment (CPU lanes) → Postgres) against raw
``model.encode`` (torch with 2 threads, batches of 64) of the very same chunk texts in this
process, in the same run.

    python -m bench.ingest [--copies 3]

Corpus: the kb-demo documents with a text layer (the image-only PDF is left out: its OCR
time is not embedding throughput), uploaded ``--copies`` times as distinct documents (no
vector reuse across documents). Wall clock from the first upload to the last ``embedded``.
Target: pipeline >= 0.85 of raw encode.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from typing import Any

import httpx

from bench._common import table, write_result
from bench._kb import KB_DEMO, kb_platform, load_average, upload_all, wait_uploads


def corpus(copies: int) -> list[tuple[str, bytes]]:
    files = [p for p in sorted((KB_DEMO / "docs").iterdir()) if p.name != "comunicado-reforma-moema.pdf"]
    return [(f"c{i}-{p.name}", p.read_bytes()) for i in range(copies) for p in files]


def raw_encode(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    import torch

    from knowledge import HFTokenizer, LocalSentenceTransformer, chunk_document, parse_document

    torch.set_num_threads(2)
    tok = HFTokenizer.from_model_dir()
    texts = [c.embed_text for name, data in files for c in chunk_document(parse_document(data, filename=name), tok)]
    model = LocalSentenceTransformer()
    model._encode(texts[:64])  # warm-up
    t = time.perf_counter()
    model._encode(texts)
    s = time.perf_counter() - t
    return {"chunks": len(texts), "seconds": round(s, 2), "chunks_per_s": round(len(texts) / s, 1)}


async def pipeline(plat: Any, files: list[tuple[str, bytes]]) -> dict[str, Any]:
    _, headers = await plat.member(f"ingest-{secrets.token_hex(3)}")
    async with httpx.AsyncClient(base_url=plat.base_url, timeout=600) as c:
        # Warm-up: one small document, so model loading is not in the measurement.
        space = (await c.post("/rag/spaces", json={"name": "warm"}, headers=headers)).json()["id"]
        await wait_uploads(c, headers, await upload_all(c, headers, space, [("w.md", b"# Aquecimento\n\nTexto.")]))
        space = (await c.post("/rag/spaces", json={"name": "bench"}, headers=headers)).json()["id"]
        t = time.perf_counter()
        ids = await upload_all(c, headers, space, files)
        ups = await wait_uploads(c, headers, ids)
        s = time.perf_counter() - t
    failed = [u for u in ups if u["status"] != "embedded"]
    chunks = sum(u["progress"]["total"] for u in ups)
    return {
        "files": len(files),
        "failed": len(failed),
        "chunks": chunks,
        "seconds": round(s, 2),
        "chunks_per_s": round(chunks / s, 1),
    }


def embedder_only(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The Embedder deployment alone, through its handle, 128 texts per call, two callers
    (as two ingestion tasks): what the pipeline would reach if nothing else cost anything."""
    from ray import serve

    from knowledge import HFTokenizer, chunk_document, parse_document

    tok = HFTokenizer.from_model_dir()
    texts = [c.embed_text for name, data in files for c in chunk_document(parse_document(data, filename=name), tok)]
    handle = serve.get_deployment_handle("Embedder", app_name="tridium")

    async def run() -> float:
        batches = [texts[i : i + 128] for i in range(0, len(texts), 128)]

        async def caller(part: list[list[str]]) -> None:
            for b in part:
                await handle.embed.remote(b)

        t = time.perf_counter()
        await asyncio.gather(caller(batches[0::2]), caller(batches[1::2]))
        return time.perf_counter() - t

    from serve.knowledge_tasks import _run  # a loop kept running: Serve handles need one

    s = _run(run())
    return {"chunks": len(texts), "seconds": round(s, 2), "chunks_per_s": round(len(texts) / s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=3)
    args = ap.parse_args()
    files = corpus(args.copies)
    with kb_platform() as plat:
        # Raw encode before and after the pipeline (other work on the machine drifts): the
        # mean is the baseline; both runs are reported.
        raw_before = raw_encode(files)
        pipe = asyncio.run(pipeline(plat, files))
        via_handle = embedder_only(files)
        raw_after = raw_encode(files)
    raw = {
        "chunks": raw_before["chunks"],
        "seconds": round((raw_before["seconds"] + raw_after["seconds"]) / 2, 2),
        "chunks_per_s": round((raw_before["chunks_per_s"] + raw_after["chunks_per_s"]) / 2, 1),
        "before": raw_before,
        "after": raw_after,
    }
    ratio = round(pipe["chunks_per_s"] / raw["chunks_per_s"], 3)
    rows = [
        {"what": "pipeline (HTTP → Ray → Embedder → Postgres)", **pipe},
        {"what": "raw model.encode, same chunks (mean of before/after)", **raw},
        {"what": "Embedder deployment alone (handle, 2 callers)", **via_handle},
        {"what": "  raw before", **raw_before},
        {"what": "  raw after", **raw_after},
    ]
    print(f"\nIngestion throughput ({args.copies} copies of the kb-demo text documents)\n")
    print(table(rows, ["what", "chunks", "seconds", "chunks_per_s"]))
    out = {
        "pipeline": pipe,
        "raw": raw,
        "embedder_only": via_handle,
        "ratio": ratio,
        "target_met": ratio >= 0.85,
        "load_average": load_average(),
    }
    print(f"\nratio pipeline/raw: {ratio} (target >= 0.85); load average: {out['load_average']}")
    print(f"wrote {write_result('ingest', out)}")


if __name__ == "__main__":
    main()
