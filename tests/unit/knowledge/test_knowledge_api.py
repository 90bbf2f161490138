from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import knowledge

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_public_api_is_exactly_what_all_lists() -> None:
    for name in knowledge.__all__:  # names load on first use (PEP 562)
        getattr(knowledge, name)
    public = {name for name in vars(knowledge) if not name.startswith("_")}
    submodules = {"chunking", "embedding", "errors", "parsing", "pii", "sandbox_parse", "sniff", "tokenizer"}
    # The pipeline's service modules (imported by their full path, never re-exported here).
    submodules |= {
        "blobs",
        "dispatch",
        "factory",
        "index_policy",
        "ingest",
        "pdf_ranges",
        "reindex",
        "remote",
        "search",
        "store",
    }
    assert public - submodules - {"importlib", "TYPE_CHECKING", "Any"} == set(knowledge.__all__)
    assert knowledge.__all__ == sorted(knowledge.__all__)


def test_importing_the_package_loads_no_model_or_native_parser() -> None:
    """Sandbox children and non-embedding workers import ``knowledge``: it must stay light."""
    code = (
        "import sys, knowledge; "
        "heavy = [m for m in ('torch', 'sentence_transformers', 'pypdfium2', 'docx', 'bs4') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""
