"""Supabase Storage over its HTTP API (``/storage/v1/object/{bucket}/{path}``).

Authenticated with the service key (Storage is outside Postgres RLS here: tenant isolation
comes from ``blob_path`` putting every object under ``{tenant_id}/``). One injected
``httpx.AsyncClient`` per process; uploads stream from disk.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from pydantic import SecretStr

from core.errors import DependencyUnavailable, NotFound

_CHUNK = 1024 * 1024


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
        async def body() -> AsyncIterator[bytes]:
            with source.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk

        headers = self._headers() | {"Content-Type": content_type, "x-upsert": "true"}
        try:
            r = await self._client.post(self._url(path), content=body(), headers=headers, timeout=120)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code >= 300:
            raise DependencyUnavailable(
                f"file storage refused the upload (HTTP {r.status_code})", details={"storage": "supabase"}
            )

    async def get(self, path: str) -> bytes:
        try:
            r = await self._client.get(self._url(path), headers=self._headers(), timeout=120)
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code in (400, 404):  # Supabase answers 400 "not_found" for missing objects
            raise NotFound("the uploaded file is gone from storage", details={"path": path})
        if r.status_code >= 300:
            raise DependencyUnavailable(f"file storage failed (HTTP {r.status_code})", details={"storage": "supabase"})
        return r.content

    async def delete(self, path: str) -> None:
        try:
            r = await self._client.request(
                "DELETE", f"{self._base}/{self._bucket}", json={"prefixes": [path]}, headers=self._headers()
            )
        except httpx.HTTPError as exc:
            raise DependencyUnavailable("file storage cannot be reached", details={"storage": "supabase"}) from exc
        if r.status_code >= 300 and r.status_code != 404:
            raise DependencyUnavailable(f"file storage failed (HTTP {r.status_code})", details={"storage": "supabase"})


__all__ = ["SupabaseStorage"]
