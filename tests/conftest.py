"""Session fixtures: ONE real Postgres (+pgvector, RLS) and ONE real Redis per test run.

Each session gets a fresh database migrated from scratch. Services live under
``$TRIDIUM_TEST_DATA`` (default /tmp/tridium-test) on ports that do not collide with
``make run``, so the suite can run while the platform is up.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as redis

from core.settings import Settings
from core.tenancy import TenantId
from db.migrate import migrate
from db.pool import create_pool
from db.tenants import create_tenant, upsert_membership
from serve.auth import mint_token

TEST_DATA = Path(os.environ.get("TRIDIUM_TEST_DATA", "/tmp/tridium-test"))
PG_PORT = int(os.environ.get("TRIDIUM_TEST_PG_PORT", "54339"))
REDIS_PORT = int(os.environ.get("TRIDIUM_TEST_REDIS_PORT", "63809"))


@dataclass(frozen=True)
class Infra:
    owner_url: str
    app_url: str
    relay_url: str
    superuser_url: str
    redis_url: str
    database: str


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    from tridium.services import EmbeddedPostgres, EmbeddedRedis, ensure_redis_server_installed

    ensure_redis_server_installed()
    pg = EmbeddedPostgres(TEST_DATA, port=PG_PORT)
    pg.start()
    rd = EmbeddedRedis(TEST_DATA, port=REDIS_PORT)
    rd.start()
    database = f"tridium_test_{secrets.token_hex(4)}"
    pg.create_database(database)
    try:
        yield Infra(
            owner_url=pg.owner_url(database),
            app_url=pg.app_url(database),
            relay_url=pg.relay_url(database),
            superuser_url=pg.superuser_url(database),
            redis_url=rd.url(),
            database=database,
        )
    finally:
        pg.drop_database(database)


@pytest.fixture(scope="session")
async def migrated(infra: Infra) -> Infra:
    await migrate(infra.owner_url)
    return infra


@pytest.fixture(scope="session")
def settings(migrated: Infra) -> Settings:
    env = {
        "DATABASE_URL": migrated.app_url,
        "DATABASE_OWNER_URL": migrated.owner_url,
        "DATABASE_RELAY_URL": migrated.relay_url,
        "REDIS_URL": migrated.redis_url,
        "TRIDIUM_ENV": "test",
        "TRIDIUM_JWT_SECRET": secrets.token_urlsafe(48),
        "TRIDIUM_LOG_LEVEL": "WARNING",
        # High limits for the suite; the rate-limit tests build their own app with low ones.
        "TRIDIUM_RATE_LIMIT_PUBLIC": "100000",
        "TRIDIUM_RATE_LIMIT_AUTHENTICATED": "100000",
    }
    os.environ.update(env)
    return Settings()


@pytest.fixture(scope="session")
async def app_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.require_database_url(), max_size=10)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def owner_pool(migrated: Infra) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(migrated.owner_url, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def redis_client(migrated: Infra) -> AsyncIterator[redis.Redis]:
    client = redis.from_url(migrated.redis_url)
    yield client
    await client.aclose()


@dataclass(frozen=True)
class Member:
    tenant_id: TenantId
    slug: str
    user_id: str
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "X-Tenant-Id": self.slug, **extra}


MakeMember = Callable[..., Awaitable[Member]]


@pytest.fixture(scope="session")
async def make_member(app_pool: asyncpg.Pool, settings: Settings) -> MakeMember:
    async def make(role: str = "owner", slug: str | None = None) -> Member:
        slug = slug or f"t-{secrets.token_hex(5)}"
        tenant_id = await create_tenant(app_pool, slug, f"Tenant {slug}")
        user_id = str(uuid.uuid4())
        await upsert_membership(app_pool, tenant_id, user_id, f"{user_id[:8]}@example.com", role)
        token = mint_token(settings, user_id=user_id, email=f"{user_id[:8]}@example.com")
        return Member(tenant_id, slug, user_id, token)

    return make


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the tiers in order: unit → integration → cluster. The cluster tier starts the
    whole platform (with its own outbox relay) once, so it goes last and does not compete
    with the in-process relays of the integration tests."""
    tier = {"unit": 0, "integration": 1, "cluster": 2}

    def key(item: pytest.Item) -> int:
        parts = item.nodeid.split("/")
        return tier.get(parts[1], 1) if len(parts) > 1 else 1

    items.sort(key=key)
