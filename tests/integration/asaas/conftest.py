"""Fixtures for the Asaas connector tests: a real sandbox server, a real webhook receiver,
and the connector talking HTTP to the sandbox. No mocks: everything crosses a socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette
from starlette.routing import Route

from tools.asaas import AsaasClient, AsaasConfig, Customer, CustomerCreate
from tools.asaas.sandbox import (
    DEFAULT_ACCESS_TOKEN,
    RunningSandbox,
    SandboxAdmin,
    SandboxConfig,
    background_server,
    running_sandbox,
)

from .helpers import FAST_SANDBOX, WEBHOOK_TOKEN, Receiver


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "asaas_sandbox(**kw): SandboxConfig overrides for the `sandbox` fixture")
    config.addinivalue_line("markers", "asaas_client(**kw): AsaasConfig overrides for the `asaas` fixture")


@pytest_asyncio.fixture
async def sandbox(request: pytest.FixtureRequest) -> AsyncIterator[RunningSandbox]:
    marker = request.node.get_closest_marker("asaas_sandbox")
    config = SandboxConfig(**{**FAST_SANDBOX, **(marker.kwargs if marker else {})})
    async with running_sandbox(config) as running:
        yield running


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(token=WEBHOOK_TOKEN)
    app = Starlette(routes=[Route("/webhooks/asaas", rec.handle, methods=["POST"])])
    async with background_server(app) as base_url:
        rec.url = f"{base_url}/webhooks/asaas"
        yield rec


@pytest_asyncio.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.fixture
def asaas(request: pytest.FixtureRequest, http: httpx.AsyncClient, sandbox: RunningSandbox) -> AsaasClient:
    marker = request.node.get_closest_marker("asaas_client")
    config = AsaasConfig(
        **{
            "base_url": sandbox.base_url,
            "access_token": DEFAULT_ACCESS_TOKEN,
            "user_agent": "tridium-tests",
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.2,
            "outcome_settle_s": 0.05,
            **(marker.kwargs if marker else {}),
        }
    )
    return AsaasClient(http, config)


@pytest.fixture
def admin(http: httpx.AsyncClient, sandbox: RunningSandbox) -> SandboxAdmin:
    return SandboxAdmin(http, sandbox.base_url)


@pytest_asyncio.fixture
async def today(admin: SandboxAdmin) -> date:
    """Today on the sandbox clock (Brazil time), not on this machine's."""
    return await admin.today()


@pytest_asyncio.fixture
async def customer(asaas: AsaasClient) -> Customer:
    return await asaas.create_customer(
        CustomerCreate(name="Maria Souza", cpf_cnpj="24971563792", email="maria@example.com")
    )
