"""Supabase Storage over its HTTP API (``/storage/v1/object/{bucket}/{path}``).

Authenticated with the service key (Storage is outside Postgres RLS here: tenant isolation
comes from ``blob_path`` putting every object under ``{tenant_id}/``). One injected
``httpx.AsyncClient`` per process; uploads stream from disk.

Supabase answers almost every error with HTTP 400 and puts the real status in the body
(``{"statusCode": "404", "code": "NoSuchKey", "error": "not_found", …}``), so errors are
read from the body: only a missing object is ``NotFound``; a missing bucket, refused
credentials or a server error are ``DependencyUnavailable`` (our configuration or their
outage, never the uploader's fault). Tested against ``tools.storage.sandbox``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from core.errors import DependencyUnavailable, NotFound

_CHUNK = 1024 * 1024


def _problem(r: httpx.Response) -> tuple[str, str, str]:
    """(semantic status, code, message) of an error answer, from Supabase's JSON body."""
    try:
        body: Any = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    status = str(body.get("statusCode") or r.status_code)
    code = str(body.get("code") or body.get("error") or "")
    return status, code, str(body.get("message") or "")[:200]


def _failure(action: str, r: httpx.Response) -> DependencyUnavailable:
    status, code, message = _problem(r)
    if status in ("401", "403"):
        what = "refused our credentials (check SUPABASE_SERVICE_KEY)"
    elif code == "NoSuchBucket":
        what = "has no such bucket (create it, or check TRIDIUM_KB_BUCKET)"
    else:
        what = f"failed the {action}"
    return DependencyUnavailable(
        f"file storage {what}: HTTP {r.status_code}, {status} {code} {message}".rstrip(),
        details={"storage": "supabase", "status": status, "code": code},
    )


class SupabaseStorage:
    def __init__(self, client: httpx.AsyncClient, base_url: str, service_key: SecretStr, bucket: str) -> None:
        self._client = client
        self._base = base_url.rstrip("/") + "/storage/v1/object"
        self._key = service_key
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def _headers(self) -> dict[str, str]:
        key = self._key.get_secret_value()
        return {"Authorization": f"Bearer {key}", "apikey": key}

    def _url(self, path: str) -> str:
        return f"{self._base}/{self._bucket}/{path}"

    async def put_file(self, path: str, source: Path, *, content_type: str) -> None:
        size = (await asyncio.to_thread(source.stat)).st_size

        async def body() -> AsyncIterator[bytes]:
            with source.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        # A declared length instead of chunked encoding: proxies in front of Storage may refuse
        # or buffer chunked bodies. x-upsert: a retried upload replaces its own first try.
        headers = self._headers() | {"Content-Type": content_type, "Content-Length": str(size), "x-upsert": "true"}
        try:
            r = await self._client.post(self._url(path), content=body(), headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code >= 300:
            raise _failure("upload", r)

    async def get(self, path: str) -> bytes:
        try:
            r = await self._client.get(self._url(path), headers=self._headers(), timeout=120)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code >= 300:
            status, code, _ = _problem(r)
            if status == "404" and code in ("NoSuchKey", "not_found"):  # sent as HTTP 400
                raise NotFound("the uploaded file is gone from storage", details={"path": path})
            raise _failure("download", r)
        return r.content

    async def delete(self, path: str) -> None:
        try:
            r = await self._client.request(
                "DELETE", f"{self._base}/{self._bucket}", json={"prefixes": [path]}, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code >= 300:  # a missing object is not an error: it is absent from the 200 list
            raise _failure("delete", r)


__all__ = ["SupabaseStorage"]
