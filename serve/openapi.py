"""Write the gateway's OpenAPI document: ``python -m serve.openapi [path]``.

The committed ``docs/openapi.json`` is the contract with the front end; a test fails when
the app drifts from it, so regenerate it (``make openapi``) with every API change.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from core.settings import Settings

from .app import build_fastapi

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"


def current_schema() -> dict[str, Any]:
    # Building the app opens nothing: pools and clients are created in its lifespan.
    schema: dict[str, Any] = build_fastapi(Settings()).openapi()
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    path.write_text(render(current_schema()), encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
