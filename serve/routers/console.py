"""The operator console's static files at ``/console/`` (docs/console.md).

The console is plain HTML, CSS and ES modules in ``serve/console/`` (the JavaScript is
compiled from ``clients/ts/console`` and committed), so the gateway serves it with no Node
at runtime. No authentication here: the page asks for a token and sends it to the API as
``Authorization: Bearer``. Only the files found there at first use are served (no directory walks,
no path traversal), each with its content type, a strict Content-Security-Policy (scripts,
styles and API calls from this origin only; the Pix QR code is a ``data:`` image) and
``no-cache`` so a deploy is picked up at once.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from starlette.responses import RedirectResponse, Response

from core.errors import NotFound

STATIC_DIR = Path(__file__).resolve().parent.parent / "console"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@cache
def console_files(root: Path = STATIC_DIR) -> dict[str, Path]:
    """Every servable file, by its URL path under /console/ ("" is the index)."""
    files = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and p.suffix in _TYPES}
    if "index.html" in files:
        files[""] = files["index.html"]
    return files


router = APIRouter(tags=["console"], include_in_schema=False)


@router.get("/console")
async def console_root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/console/{name:path}")
async def console_file(name: Annotated[str, PathParam(max_length=200)]) -> Response:
    path = console_files().get(name)
    if path is None:
        raise NotFound("no such console file", details={"path": name})
    body = await asyncio.to_thread(path.read_bytes)
    return Response(body, media_type=_TYPES[path.suffix], headers=SECURITY_HEADERS)


__all__ = ["CSP", "STATIC_DIR", "console_files", "router"]
