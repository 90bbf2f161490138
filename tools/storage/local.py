"""Local-folder storage: ``{root}/{bucket}/{tenant_id}/{upload_id}/source``."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from core.errors import NotFound


class LocalStorage:
    def __init__(self, root: Path, bucket: str) -> None:
        self._root = root.absolute()
        self._bucket = bucket

    @property
    def bucket(self) -> str:
        return self._bucket

    def _file(self, path: str) -> Path:
        target = (self._root / self._bucket / path).resolve()
        base = (self._root / self._bucket).resolve()
        if base not in target.parents:  # paths come from blob_path(); this is the backstop
            raise ValueError(f"object path escapes the bucket: {path!r}")
        return target

    async def put_file(self, path: str, source: Path, *, content_type: str) -> None:
        del content_type  # a folder has no metadata; the kind is recorded in kb_uploads
        target = self._file(path)

        def copy() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)  # readers never see half a file

        await asyncio.to_thread(copy)

    async def get(self, path: str) -> bytes:
        target = self._file(path)
        try:
            return await asyncio.to_thread(target.read_bytes)
        except FileNotFoundError as exc:
            raise NotFound("the uploaded file is gone from storage", details={"path": path}) from exc

    async def delete(self, path: str) -> None:
        target = self._file(path)
        await asyncio.to_thread(target.unlink, True)


__all__ = ["LocalStorage"]
