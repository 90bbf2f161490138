"""Where uploaded files live, as the knowledge pipeline sees it.

The pipeline reads and writes blobs through :class:`BlobStore`; the implementations
(a local folder, Supabase Storage over HTTP) are connectors in ``tools.storage``. Object
paths are built by :func:`blob_path` only, from ids we generated, never from user input:
``{tenant_id}/{upload_id}/source`` inside the bucket, so one tenant's files are a prefix
and a hostile file name cannot climb out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol
from uuid import UUID

from core.tenancy import TenantId


class BlobStore(Protocol):
    """A bucket of immutable objects addressed by ``{tenant_id}/...`` paths."""

    @property
    def bucket(self) -> str: ...

    async def put_file(self, path: str, source: Path, *, content_type: str) -> None:
        """Store the local file ``source`` at ``path`` (streamed, never read whole)."""
        ...

    async def get(self, path: str) -> bytes: ...

    async def delete(self, path: str) -> None: ...


def blob_path(tenant_id: TenantId, upload_id: UUID) -> str:
    """The object path of an upload's original bytes (relative to the bucket)."""
    return f"{UUID(str(tenant_id))}/{UUID(str(upload_id))}/source"


__all__ = ["BlobStore", "blob_path"]
