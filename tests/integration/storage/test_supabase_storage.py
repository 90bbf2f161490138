"""SupabaseStorage against the Supabase Storage sandbox, over real HTTP (no mocks)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from pydantic import SecretStr

from core.errors import DependencyUnavailable, NotFound
from tools.storage import SupabaseStorage
from tools.storage.sandbox import (
    DEFAULT_SERVICE_KEY,
    SANDBOX_NAME,
    RunningStorageSandbox,
    StorageSandboxConfig,
    running_storage_sandbox,
)

KEY = SecretStr(DEFAULT_SERVICE_KEY)


@pytest_asyncio.fixture
async def sandbox() -> AsyncIterator[RunningStorageSandbox]:
    async with running_storage_sandbox(StorageSandboxConfig(buckets=("kb",))) as running:
        yield running


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "source"
    path.write_bytes(data)
    return path


async def test_put_get_delete_round_trip(
    sandbox: RunningStorageSandbox, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    store = SupabaseStorage(http, sandbox.base_url, KEY, "kb")
    data = bytes(range(256)) * 5000  # > 1 MiB: several streamed chunks
    await store.put_file("t1/u1/source", _file(tmp_path, data), content_type="application/pdf")
    assert await store.get("t1/u1/source") == data
    assert sandbox.sandbox.store.objects[("kb", "t1/u1/source")].content_type == "application/pdf"
    # Uploading again replaces (x-upsert), as a retried ingestion does.
    await store.put_file("t1/u1/source", _file(tmp_path, b"second"), content_type="text/plain")
    assert await store.get("t1/u1/source") == b"second"
    await store.delete("t1/u1/source")
    with pytest.raises(NotFound):
        await store.get("t1/u1/source")
    await store.delete("t1/u1/source")  # deleting what is gone is not an error


async def test_missing_object_is_not_found_but_a_wrong_key_is_not(
    sandbox: RunningStorageSandbox, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with pytest.raises(NotFound):
        await SupabaseStorage(http, sandbox.base_url, KEY, "kb").get("t1/nothing/source")
    # A wrong key also answers HTTP 400: it must not read as "the file is gone".
    wrong = SupabaseStorage(http, sandbox.base_url, SecretStr("not-the-key"), "kb")
    for call in (
        wrong.get("t1/nothing/source"),
        wrong.put_file("t1/x/source", _file(tmp_path, b"x"), content_type="text/plain"),
        wrong.delete("t1/x/source"),
    ):
        with pytest.raises(DependencyUnavailable, match="credentials") as info:
            await call
        assert "not-the-key" not in str(info.value.message) + str(info.value.details)
    with pytest.raises(DependencyUnavailable, match="no such bucket"):
        await SupabaseStorage(http, sandbox.base_url, KEY, "other").put_file(
            "t1/x/source", _file(tmp_path, b"x"), content_type="text/plain"
        )


async def test_unreachable_server_is_a_dependency_failure(http: httpx.AsyncClient, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = SupabaseStorage(http, f"http://127.0.0.1:{port}", KEY, "kb")
    with pytest.raises(DependencyUnavailable, match="cannot be reached"):
        await store.get("t/u/source")
    with pytest.raises(DependencyUnavailable, match="cannot be reached"):
        await store.put_file("t/u/source", _file(tmp_path, b"x"), content_type="text/plain")
    with pytest.raises(DependencyUnavailable, match="cannot be reached"):
        await store.delete("t/u/source")


async def test_sandbox_speaks_supabase_error_shapes(sandbox: RunningStorageSandbox, http: httpx.AsyncClient) -> None:
    base = f"{sandbox.base_url}/storage/v1"
    auth = {"Authorization": f"Bearer {DEFAULT_SERVICE_KEY}", "apikey": DEFAULT_SERVICE_KEY}
    r = await http.post(f"{base}/object/kb/a/b.txt", content=b"one", headers=auth | {"Content-Type": "text/plain"})
    assert r.status_code == 200 and r.json()["Key"] == "kb/a/b.txt" and r.json()["Id"]
    assert r.headers["x-sandbox"] == SANDBOX_NAME
    # Without x-upsert an existing object is a duplicate, reported as HTTP 400.
    r = await http.post(f"{base}/object/kb/a/b.txt", content=b"two", headers=auth)
    body = r.json()
    assert (r.status_code, body["statusCode"], body["error"]) == (400, "409", "Duplicate")
    assert body["message"] == "The resource already exists"
    r = await http.put(f"{base}/object/kb/a/b.txt", content=b"two", headers=auth)
    assert r.status_code == 200
    r = await http.get(f"{base}/object/authenticated/kb/a/b.txt", headers=auth)
    assert r.content == b"two" and r.headers["etag"]
    r = await http.get(f"{base}/object/kb/missing", headers=auth)
    assert (r.status_code, r.json()) == (
        400,
        {"statusCode": "404", "code": "NoSuchKey", "error": "not_found", "message": "Object not found"},
    )
    r = await http.get(f"{base}/object/nobucket/x", headers=auth)
    assert (r.status_code, r.json()["statusCode"], r.json()["error"]) == (400, "404", "Bucket not found")
    r = await http.get(f"{base}/object/kb/a/b.txt", headers={"apikey": DEFAULT_SERVICE_KEY})
    assert (r.status_code, r.json()["statusCode"], r.json()["error"]) == (400, "403", "Unauthorized")
    r = await http.get(f"{base}/object/kb/a/b.txt")
    assert (r.status_code, r.json()["message"]) == (401, "No API key found in request")
    r = await http.post(f"{base}/object/kb/a%5Cb", content=b"x", headers=auth)  # backslash: not S3-safe
    assert (r.status_code, r.json()["code"]) == (400, "InvalidKey")
    r = await http.request("DELETE", f"{base}/object/kb", json={"prefixes": ["a/b.txt", "nope"]}, headers=auth)
    assert r.status_code == 200 and [o["name"] for o in r.json()] == ["a/b.txt"]
    r = await http.request("DELETE", f"{base}/object/kb", json={"prefixes": []}, headers=auth)
    assert r.status_code == 400
    r = await http.post(f"{base}/bucket", json={"name": "kb"}, headers=auth)
    assert (r.status_code, r.json()["statusCode"], r.json()["error"]) == (400, "409", "Duplicate")


async def test_state_on_disk_survives_a_restart(http: httpx.AsyncClient, tmp_path: Path) -> None:
    config = StorageSandboxConfig(data_dir=tmp_path / "state")
    async with running_storage_sandbox(config) as first:
        await SupabaseStorage(http, first.base_url, KEY, "kb").put_file(
            "t/u/source", _file(tmp_path, b"kept"), content_type="text/plain"
        )
    async with running_storage_sandbox(config) as second:
        assert await SupabaseStorage(http, second.base_url, KEY, "kb").get("t/u/source") == b"kept"
