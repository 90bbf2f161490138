"""The committed console build (serve/console/js) is what tsc makes of clients/ts/console.

``npm run console:build`` (in clients/ts) compiles the TypeScript sources, type-checked
against the generated API types (clients/ts/src/api.d.ts), into plain ES modules that the
gateway serves at /console/. This test compiles them again into a temporary folder with
the pinned TypeScript and fails when the committed files differ (stale build, hand edits,
files left over), or when the sources no longer type-check against the contract.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "ts"
SOURCES = CLIENT / "console"
BUILT = ROOT / "serve" / "console"
TSC = CLIENT / "node_modules" / ".bin" / "tsc"


def _compile(out: Path) -> dict[str, str]:
    assert shutil.which("node"), "node is missing: run `make system-deps` (installs nodejs/npm)"
    assert TSC.exists(), "typescript is not installed: run `make install` (npm ci in clients/ts)"
    done = subprocess.run(
        [str(TSC), "-p", str(SOURCES), "--outDir", str(out)],
        cwd=CLIENT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"the console does not type-check against the API types:\n{done.stdout}{done.stderr}"
    return {p.relative_to(out).as_posix(): p.read_text(encoding="utf-8") for p in out.rglob("*.js")}


def test_committed_console_build_is_fresh(tmp_path: Path) -> None:
    fresh = _compile(tmp_path / "js")
    js = BUILT / "js"
    committed = {p.relative_to(js).as_posix(): p.read_text(encoding="utf-8") for p in js.rglob("*.js")}
    assert sorted(committed) == sorted(fresh), "serve/console/js has other files than the build: run `make console`"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert not stale, f"serve/console/js is stale ({stale}): run `make console` and commit"


def test_typescript_is_pinned_and_the_page_loads_the_entry_module() -> None:
    pkg = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))
    version = pkg["devDependencies"]["typescript"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "typescript must be pinned to an exact version"
    lock = json.loads((CLIENT / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/typescript"]["version"] == version
    page = (BUILT / "index.html").read_text(encoding="utf-8")
    assert '<script type="module" src="js/main.js"></script>' in page
    assert "console.css" in page and (BUILT / "console.css").exists()
    # No inline scripts or styles: the CSP the gateway sends allows neither.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page) and "<style" not in page and " style=" not in page
