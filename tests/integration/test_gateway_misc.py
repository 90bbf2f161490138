"""Gateway behaviour around the routes: /me, CORS, request ids, metrics, JWKS tokens."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.settings import Settings
from db.tenants import upsert_membership

from .conftest import MakeMember, client_for, running_app


async def test_me_lists_memberships_roles_and_flags(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member(role="admin")
    r = await client.get("/me", headers=m.headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["user_id"] == m.user_id
    assert [(x["slug"], x["role"]) for x in body["memberships"]] == [(m.slug, "admin")]
    assert body["tenant"]["slug"] == m.slug
    assert (await client.get("/me")).status_code == 401


async def test_cors_preflight_for_the_front_end(client: httpx.AsyncClient, settings: Settings) -> None:
    origin = settings.cors_origins[0]
    r = await client.options(
        "/leads",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,idempotency-key,x-tenant-id,content-type",
        },
    )
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == origin
    evil = await client.options(
        "/leads", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in evil.headers


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    r = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    generated = (await client.get("/health")).headers["x-request-id"]
    assert len(generated) == 32


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, make_member: MakeMember) -> None:
    m = await make_member()
    await client.get("/leads/00000000-0000-0000-0000-000000000000", headers=m.headers())
    text = (await client.get("/metrics")).text
    assert 'route="/leads/{lead_id}",status="404"' in text
    assert "tridium_db_pool_max" in text


class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    _Jwks.body = json.dumps({"keys": [jwk | {"kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()
    server = HTTPServer(("127.0.0.1", 0), _Jwks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", key
    server.shutdown()
    server.server_close()


async def test_rs256_tokens_from_a_jwks_url(
    settings: Settings, make_member: MakeMember, app_pool: object, jwks_server: tuple[str, rsa.RSAPrivateKey]
) -> None:
    url, key = jwks_server
    m = await make_member()
    await upsert_membership(app_pool, m.tenant_id, "rs-user", None, "member")  # type: ignore[arg-type]
    token = jwt.encode({"sub": "rs-user", "exp": int(time.time()) + 60}, key, algorithm="RS256", headers={"kid": "k1"})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"sub": "rs-user", "exp": int(time.time()) + 60}, other, algorithm="RS256", headers={"kid": "k1"}
    )
    async for app in running_app(settings.model_copy(update={"jwks_url": url})):
        async with client_for(app) as c:
            ok = await c.get("/leads", headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": m.slug})
            bad = await c.get("/leads", headers={"Authorization": f"Bearer {forged}", "X-Tenant-Id": m.slug})
    assert ok.status_code == 200, ok.text
    assert bad.status_code == 401


async def test_each_request_is_a_server_span_named_by_route(client: httpx.AsyncClient) -> None:
    # An in-memory exporter stands in for the OTLP collector (an outside service).
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    # The global provider can be set once per process: reuse it if another test set it.
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    await client.get("/leads/not-a-uuid", headers={"X-Request-Id": "trace-me"})
    spans = [s for s in exporter.get_finished_spans() if s.attributes.get("tridium.request_id") == "trace-me"]
    assert len(spans) == 1
    assert spans[0].name == "GET /leads/{lead_id}"
    assert spans[0].attributes["http.response.status_code"] == 401
