"""Shared fixtures for the knowledge unit tests: the kb-demo data set and loaded models.

The data set lives in the shared folder next to the repository (``../shared/data/kb-demo``);
``TRIDIUM_KB_DEMO`` overrides the location. Missing data or a missing Tesseract is a
failure, not a skip: a skipped OCR test would hide a missing install step.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

# The tests are an entrypoint: nothing here may reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from knowledge.parsing import ParsedDocument, parse_document
from knowledge.tokenizer import HFTokenizer

REPO_ROOT = Path(__file__).resolve().parents[3]


def _kb_demo_dir() -> Path:
    candidates = [
        Path(os.environ["TRIDIUM_KB_DEMO"]) if os.environ.get("TRIDIUM_KB_DEMO") else None,
        REPO_ROOT.parent / "shared" / "data" / "kb-demo",
        REPO_ROOT / "shared" / "data" / "kb-demo",
    ]
    for path in candidates:
        if path is not None and (path / "pii.jsonl").is_file():
            return path
    raise RuntimeError("kb-demo data set not found; set TRIDIUM_KB_DEMO to its folder")


@pytest.fixture(scope="session")
def kb_dir() -> Path:
    return _kb_demo_dir()


@pytest.fixture(scope="session")
def kb_docs(kb_dir: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted((kb_dir / "docs").iterdir()) if p.is_file()}


@pytest.fixture(scope="session")
def questions(kb_dir: Path) -> list[dict[str, Any]]:
    lines = (kb_dir / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="session")
def require_tesseract() -> None:
    if shutil.which("tesseract") is None:
        pytest.fail("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-por")


@pytest.fixture(scope="session")
def parsed(kb_docs: dict[str, Path], require_tesseract: None) -> dict[str, ParsedDocument]:
    """Every kb-demo document parsed once, in process (OCR included)."""
    return {name: parse_document(path.read_bytes(), filename=name) for name, path in kb_docs.items()}


@pytest.fixture(scope="session")
def tokenizer() -> HFTokenizer:
    return HFTokenizer.from_model_dir()
