"""Bad input at the gateway (test matrix B3, B4; schemathesis-style checks by hand):
every malformed, oversized or mistyped request gets a 4xx in the one error shape,
``{"error": {"code", "message", "details"}}``, never a 5xx, and writes nothing."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from core.settings import Settings
from db.pool import tenant_tx

from .conftest import MakeMember, Member


@pytest.fixture(scope="module")
async def member(make_member: MakeMember) -> Member:
    return await make_member()


def _error(r: httpx.Response, status: int, code: str | None = None) -> Any:
    """Assert the status and the exact error shape; return ``details``."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]["details"]


def _locs(details: list[dict[str, Any]]) -> list[list[Any]]:
    return [d["loc"] for d in details]


async def _threads(pool: asyncpg.Pool, m: Member) -> int:
    async with tenant_tx(pool, m.tenant_id) as conn:
        n: int = await conn.fetchval("select count(*) from threads where tenant_id = $1", m.tenant_id)
    return n


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"channel": "chat", ', "malformed_json"),
        (b"{'channel': 'chat'}", "malformed_json"),
        (b'{"channel": "chat",}', "malformed_json"),
        (b"nul\x00l", "malformed_json"),
        # Not UTF-8: FastAPI answers its generic body error (still a 400 in our shape).
        (b"\xff\xfe{}", None),
    ],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, member: Member, raw: bytes, code: str | None) -> None:
    h = member.headers(**{"Content-Type": "application/json"})
    details = _error(await client.post("/threads", content=raw, headers=h), 400, code)
    if code == "malformed_json":
        assert details[0]["type"] == "json_invalid"
    r = await client.post("/leads", content=raw, headers={**h, "Idempotency-Key": str(uuid.uuid4())})
    _error(r, 400, code)


async def test_wrong_types_name_the_fields(client: httpx.AsyncClient, member: Member, app_pool: asyncpg.Pool) -> None:
    before = await _threads(app_pool, member)
    r = await client.post(
        "/threads", json={"channel": 5, "external_id": ["x"], "lead_id": "nope"}, headers=member.headers()
    )
    details = _error(r, 422, "validation_failed")
    assert sorted(_locs(details)) == [["body", "channel"], ["body", "external_id"], ["body", "lead_id"]]
    r = await client.post(
        "/leads",
        json={"name": "X", "score": "high", "email": "not-an-email", "meta": []},
        headers=member.headers(**{"Idempotency-Key": str(uuid.uuid4())}),
    )
    details = _error(r, 422, "validation_failed")
    assert sorted(_locs(details)) == [["body", "email"], ["body", "meta"], ["body", "score"]]
    r = await client.post("/threads", json=["channel", "chat"], headers=member.headers())
    _error(r, 422, "validation_failed")
    r = await client.post("/threads", json={}, headers=member.headers())
    assert sorted(_locs(_error(r, 422, "validation_failed"))) == [["body", "channel"], ["body", "external_id"]]
    assert await _threads(app_pool, member) == before


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/threads", {"channel": "chat", "external_id": "e1", "tenant_id": str(uuid.uuid4())}),
        ("/deals", {"lead_id": str(uuid.uuid4()), "stage": "won"}),
        ("/messages", {"thread_id": str(uuid.uuid4()), "direction": "in", "sender": "a", "body": "b", "id": 1}),
    ],
)
async def test_unknown_fields_are_rejected(
    client: httpx.AsyncClient, member: Member, path: str, body: dict[str, Any]
) -> None:
    r = await client.post(path, json=body, headers=member.headers())
    details = _error(r, 422, "validation_failed")
    assert [d["type"] for d in details] == ["extra_forbidden"]
    assert details[0]["loc"][0] == "body"


async def test_numbers_out_of_range_are_422(client: httpx.AsyncClient, member: Member) -> None:
    for body in ({"name": "N", "score": 101}, {"name": "N", "score": 10**40}, {"name": "N", "score": -1}):
        r = await client.post("/leads", json=body, headers=member.headers(**{"Idempotency-Key": str(uuid.uuid4())}))
        assert _locs(_error(r, 422, "validation_failed")) == [["body", "score"]]
    r = await client.post(
        "/deals", json={"lead_id": str(uuid.uuid4()), "value_cents": 10**13}, headers=member.headers()
    )
    assert _locs(_error(r, 422, "validation_failed")) == [["body", "value_cents"]]


async def test_huge_body_with_content_length_is_413(
    client: httpx.AsyncClient, member: Member, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    before = await _threads(app_pool, member)
    big = json.dumps({"channel": "chat", "external_id": "x" * (settings.max_body_bytes + 10)}).encode()
    r = await client.post("/threads", content=big, headers=member.headers(**{"Content-Type": "application/json"}))
    details = _error(r, 413, "payload_too_large")
    assert details == {"limit_bytes": settings.max_body_bytes}
    # Checked before authentication: an anonymous flood is refused as cheaply.
    r = await client.post("/threads", content=big, headers={"Content-Type": "application/json"})
    _error(r, 413, "payload_too_large")
    assert await _threads(app_pool, member) == before


async def test_huge_chunked_body_without_content_length_is_413(
    client: httpx.AsyncClient, member: Member, settings: Settings, app_pool: asyncpg.Pool
) -> None:
    before = await _threads(app_pool, member)
    chunk = b"x" * 65536
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"channel": "chat", "external_id": "'
        for _ in range(settings.max_body_bytes // len(chunk) + 2):
            sent += len(chunk)
            yield chunk
        yield b'"}'

    r = await client.post("/threads", content=body(), headers=member.headers(**{"Content-Type": "application/json"}))
    assert "content-length" not in r.request.headers
    assert r.request.headers.get("transfer-encoding") == "chunked"
    details = _error(r, 413, "payload_too_large")
    assert details == {"limit_bytes": settings.max_body_bytes}
    assert await _threads(app_pool, member) == before
    # The same for the idempotent route, which reads the body for its fingerprint too.
    r = await client.post(
        "/leads",
        content=body(),
        headers=member.headers(**{"Content-Type": "application/json", "Idempotency-Key": "big"}),
    )
    _error(r, 413, "payload_too_large")


async def test_unknown_route_is_404(client: httpx.AsyncClient, member: Member) -> None:
    _error(await client.get("/no-such-thing", headers=member.headers()), 404, "not_found")
    _error(await client.get("/leads/x/y/z"), 404, "not_found")


async def test_wrong_method_is_405(client: httpx.AsyncClient, member: Member) -> None:
    r = await client.delete("/leads", headers=member.headers())
    _error(r, 405, "method_not_allowed")
    # Starlette's Allow names the first route matching the path only (GET here, not POST).
    assert "GET" in {m.strip() for m in r.headers["allow"].split(",")}
    _error(await client.put(f"/leads/{uuid.uuid4()}", json={}, headers=member.headers()), 405, "method_not_allowed")
    _error(await client.get(f"/deals/{uuid.uuid4()}/win", headers=member.headers()), 405, "method_not_allowed")


@pytest.mark.parametrize("bad", ["not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g", "' or 1=1 --"])
async def test_invalid_uuid_in_path_is_422(client: httpx.AsyncClient, member: Member, bad: str) -> None:
    r = await client.get(f"/leads/{bad}", headers=member.headers())
    assert _locs(_error(r, 422, "validation_failed")) == [["path", "lead_id"]]
    r = await client.post(f"/deals/{bad}/win", headers=member.headers(**{"Idempotency-Key": str(uuid.uuid4())}))
    assert _locs(_error(r, 422, "validation_failed")) == [["path", "deal_id"]]


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        _b64({"a": 1}),
        _b64(5),
        _b64("ab"),
        _b64([1, 2]),
        _b64([None, None]),
        _b64(["yesterday", str(uuid.uuid4())]),
        _b64(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        _b64(["2024-01-01T00:00:00+00:00", str(uuid.uuid4()), "extra"]),
        "x" * 201,
    ],
)
async def test_invalid_cursor_is_422(client: httpx.AsyncClient, member: Member, cursor: str) -> None:
    for path in ("/leads", "/threads", "/messages", "/deals"):
        r = await client.get(path, params={"cursor": cursor}, headers=member.headers())
        assert _locs(_error(r, 422, "validation_failed")) == [["query", "cursor"]], path


@pytest.mark.parametrize("limit", ["0", "-1", "201", "1000", "abc", "1.5"])
async def test_limit_out_of_range_is_422(client: httpx.AsyncClient, member: Member, limit: str) -> None:
    for path in ("/leads", "/threads", "/messages", "/deals"):
        r = await client.get(path, params={"limit": limit}, headers=member.headers())
        assert _locs(_error(r, 422, "validation_failed")) == [["query", "limit"]], path


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"]
)
async def test_non_json_content_type_is_rejected(
    client: httpx.AsyncClient, member: Member, app_pool: asyncpg.Pool, content_type: str
) -> None:
    before = await _threads(app_pool, member)
    body = json.dumps({"channel": "chat", "external_id": f"ct-{uuid.uuid4().hex}"}).encode()
    r = await client.post("/threads", content=body, headers=member.headers(**{"Content-Type": content_type}))
    assert 400 <= r.status_code < 500, r.text
    _error(r, r.status_code)
    assert await _threads(app_pool, member) == before


@pytest.mark.parametrize(
    ("payload", "status", "loc"),
    [
        (b'{"name": "nul\\u0000byte"}', 422, ["body", "name"]),
        (b'{"name": "ok", "meta": {"k": "nul\\u0000"}}', 422, ["body", "meta"]),
        (b'{"name": "ok", "meta": {"k\\u0000": 1}}', 422, ["body", "meta"]),
        (b'{"name": "ok", "meta": {"n": [1, NaN]}}', 422, ["body", "meta"]),
        (b'{"name": "ok", "meta": {"n": -Infinity}}', 422, ["body", "meta"]),
        (b'{"name": "ok", "meta": {"n": 1e999}}', 422, ["body", "meta"]),
        (b'{"name": "\\ud800"}', 422, ["body", "name"]),
        (b'{"name": "ok", "meta": {"n": ' + b"9" * 5000 + b"}}", 400, None),
        (b'{"name": "ok", "meta": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, None),
    ],
    ids=[
        "nul-text",
        "nul-jsonb",
        "nul-jsonb-key",
        "nan",
        "infinity",
        "overflow-float",
        "lone-surrogate",
        "huge-int",
        "deep-nesting",
    ],
)
async def test_pathological_json_is_4xx(
    client: httpx.AsyncClient, member: Member, payload: bytes, status: int, loc: list[str] | None
) -> None:
    r = await client.post(
        "/leads",
        content=payload,
        headers=member.headers(**{"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}),
    )
    details = _error(r, status)
    if loc is not None:
        assert _locs(details) == [loc]


@pytest.mark.parametrize("depth", [100, 500, 900])
async def test_nested_meta_never_5xx(client: httpx.AsyncClient, member: Member, depth: int) -> None:
    """Nesting that Python's parser accepts is stored or refused, never a crash."""
    payload = b'{"name": "deep", "meta": {"k": ' + b"[" * depth + b"]" * depth + b"}}"
    r = await client.post(
        "/leads",
        content=payload,
        headers=member.headers(**{"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}),
    )
    assert r.status_code == 201 or 400 <= r.status_code < 500, r.text
    if r.status_code != 201:
        _error(r, r.status_code)
