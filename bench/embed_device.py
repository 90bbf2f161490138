"""Embedding throughput per device: our ``LocalSentenceTransformer.embed`` (what the Embedder
deployment runs: batches of 64, normalised vectors, a thread hop off the event loop, vectors
converted to lists for Postgres) vs raw ``SentenceTransformer.encode`` of the very same texts
on the same device, in the same run. Every device the node has: the CPU, and CUDA when
PyTorch sees a GPU (the model picks it by itself; ``device`` shows what it picked).

    python -m bench.embed_device [--texts chunks.jsonl] [--n 4096] [--random-weights]

Texts: the kb-demo Markdown/text documents chunked by our chunker (or ``--texts``, one JSON
string per line, for a machine without the parsers), repeated up to ``--n``.

``--random-weights`` builds the same architecture (the model folder's config, tokenizer and
pooling) with random weights: for a machine the 88 MB weights cannot be copied to. Speed
does not depend on the weights' values; the vectors are meaningless and the output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import table, write_result

KB_DEMO = Path(os.environ.get("TRIDIUM_KB_DEMO", Path(__file__).resolve().parents[2] / "shared/data/kb-demo"))


def kb_texts() -> list[str]:
    from knowledge import HFTokenizer, chunk_document, parse_document

    tok = HFTokenizer.from_model_dir()
    files = [p for p in sorted((KB_DEMO / "docs").iterdir()) if p.suffix in (".md", ".txt")]
    return [c.embed_text for p in files for c in chunk_document(parse_document(p.read_bytes(), filename=p.name), tok)]


def random_weight_copy(model_dir: Path, into: Path) -> Path:
    """The model folder with its weights replaced by random ones of the same shapes."""
    from transformers import AutoConfig, AutoModel

    shutil.copytree(model_dir, into, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"), dirs_exist_ok=True)
    AutoModel.from_config(AutoConfig.from_pretrained(model_dir)).save_pretrained(into)
    return into


def measure(model_dir: Path, device: str, texts: list[str], repeats: int) -> dict[str, Any]:
    import torch
    from sentence_transformers import SentenceTransformer

    from knowledge.embedding import LocalSentenceTransformer

    def sync() -> None:
        if device == "cuda":
            torch.cuda.synchronize()

    raw = SentenceTransformer(str(model_dir), device=device, local_files_only=True)
    ours = LocalSentenceTransformer(model_dir, device=device)
    for warm in (raw.encode(texts[:128], batch_size=64), asyncio.run(ours.embed(texts[:128]))):
        assert len(warm) == 128
    best_raw = best_ours = float("inf")
    for _ in range(repeats):  # interleaved, best of each: the same conditions for both
        sync()
        t = time.perf_counter()
        raw.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        sync()
        best_raw = min(best_raw, time.perf_counter() - t)
        t = time.perf_counter()
        vectors = asyncio.run(ours.embed(texts))
        best_ours = min(best_ours, time.perf_counter() - t)
        assert len(vectors) == len(texts) and len(vectors[0]) == ours.dim
    return {
        "device": ours.device,
        "gpu": torch.cuda.get_device_name(0) if ours.device == "cuda" else "",
        "texts": len(texts),
        "raw_chunks_per_s": round(len(texts) / best_raw, 1),
        "ours_chunks_per_s": round(len(texts) / best_ours, 1),
        "ratio": round(best_raw / best_ours, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--texts", type=Path, help="JSON lines of chunk texts (default: chunk kb-demo here)")
    ap.add_argument("--n", type=int, default=4096, help="texts per measurement (kb-demo chunks repeated)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model-dir", type=Path, help="sentence-transformers folder (default: the packaged MiniLM)")
    ap.add_argument("--random-weights", action="store_true", help="same architecture, random weights (see doc)")
    ap.add_argument("--cpu-n", type=int, default=1024, help="texts for the CPU measurement (it is slow)")
    ap.add_argument("--out", type=Path, help="also write the JSON here")
    args = ap.parse_args()

    import torch

    from knowledge.tokenizer import default_model_dir

    base = [json.loads(line) for line in args.texts.read_text().splitlines()] if args.texts else kb_texts()
    texts = (base * (args.n // len(base) + 1))[: args.n]
    model_dir = args.model_dir or default_model_dir()
    with tempfile.TemporaryDirectory() as tmp:
        if args.random_weights:
            model_dir = random_weight_copy(model_dir, Path(tmp) / "model")
        rows = [measure(model_dir, "cpu", texts[: args.cpu_n], args.repeats)]
        if torch.cuda.is_available():
            rows.append(measure(model_dir, "cuda", texts, args.repeats))
            # What the Embedder deployment gets on a GPU node when no device is named.
            from knowledge.embedding import LocalSentenceTransformer

            rows[-1]["picked_by_default"] = LocalSentenceTransformer(model_dir).device
    weights = "random (same architecture; speed only)" if args.random_weights else "all-MiniLM-L6-v2"
    print(f"\nEmbedding throughput, ours (LocalSentenceTransformer.embed) vs raw encode; weights: {weights}\n")
    print(table(rows, ["device", "gpu", "texts", "raw_chunks_per_s", "ours_chunks_per_s", "ratio"]))
    payload = {"weights": weights, "torch": torch.__version__, "rows": rows}
    path = write_result("embed_device", payload)
    if args.out:
        args.out.write_text(path.read_text())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
