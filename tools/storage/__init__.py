"""File storage connectors behind ``knowledge.blobs.BlobStore``.

::

    LocalStorage(root, bucket)               {root}/{bucket}/{tenant_id}/...   (default)
    SupabaseStorage(client, url, key, bucket) Supabase Storage HTTP API         (production)
    storage_from_settings(settings, client)  picks one from TRIDIUM_KB_STORAGE
"""

from __future__ import annotations

import httpx

from core.settings import Settings
from knowledge.blobs import BlobStore

from .local import LocalStorage
from .supabase import SupabaseStorage


def storage_from_settings(settings: Settings, client: httpx.AsyncClient | None = None) -> BlobStore:
    """The configured store. Supabase needs ``client`` (one per process, owned by the caller)."""
    if settings.kb_storage == "supabase":
        if client is None or settings.supabase_url is None or settings.supabase_service_key is None:
            raise ValueError("kb_storage=supabase needs SUPABASE_URL, SUPABASE_SERVICE_KEY and an HTTP client")
        return SupabaseStorage(client, settings.supabase_url, settings.supabase_service_key, settings.kb_bucket)
    if settings.kb_storage != "local":
        raise ValueError(f"unknown kb_storage {settings.kb_storage!r} (local | supabase)")
    return LocalStorage(settings.data_dir.absolute() / "storage", settings.kb_bucket)


__all__ = ["LocalStorage", "SupabaseStorage", "storage_from_settings"]
