"""The committed TypeScript types (clients/ts/src/api.d.ts) match docs/openapi.json.

They are regenerated with the pinned openapi-typescript from clients/ts/package-lock.json
(``make ts-types``); ``make install`` runs ``npm ci`` there, which needs no network once the
npm cache holds the lock's tarballs. A missing toolchain fails this test: it never skips.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "ts"
GENERATOR = CLIENT / "node_modules" / ".bin" / "openapi-typescript"


def _generate(out: Path) -> str:
    assert shutil.which("node"), "node is missing: run `make system-deps` (installs nodejs/npm)"
    assert GENERATOR.exists(), "openapi-typescript is not installed: run `make install` (npm ci in clients/ts)"
    subprocess.run(
        [str(GENERATOR), str(ROOT / "docs" / "openapi.json"), "-o", str(out)],
        cwd=CLIENT,
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out.read_text(encoding="utf-8")


def test_committed_ts_types_match_the_openapi_contract(tmp_path: Path) -> None:
    fresh = _generate(tmp_path / "api.d.ts")
    committed = (CLIENT / "src" / "api.d.ts").read_text(encoding="utf-8")
    assert committed == fresh, "clients/ts/src/api.d.ts drifted from docs/openapi.json: run `make ts-types` and commit"


def test_the_generator_is_pinned_and_sees_every_route(tmp_path: Path) -> None:
    import json

    pkg = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    version = pkg["devDependencies"]["openapi-typescript"]
    assert version[0].isdigit(), "openapi-typescript must be pinned to an exact version"
    lock = json.loads((CLIENT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/openapi-typescript"]["version"] == version
    schema = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    committed = (CLIENT / "src" / "api.d.ts").read_text(encoding="utf-8")
    for path in schema["paths"]:
        assert f'"{path}": {{' in committed, path
