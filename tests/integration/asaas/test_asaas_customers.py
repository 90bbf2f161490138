"""Customers, auth and error mapping, over real HTTP against the sandbox."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from core.errors import ClientError, NotFound
from tools.asaas import (
    AsaasAuthFailed,
    AsaasClient,
    AsaasConfig,
    AsaasNotFound,
    AsaasRequestRejected,
    CustomerCreate,
)
from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN, RunningSandbox, SandboxConfig, running_sandbox


@pytest.mark.asyncio
async def test_customer_is_found_by_cpf_and_external_reference(asaas: AsaasClient) -> None:
    created = await asaas.create_customer(
        CustomerCreate(name="Ana Lima", cpf_cnpj="111.444.777-35", external_reference="lead-42")
    )
    assert created.id.startswith("cus_")
    assert created.cpf_cnpj == "11144477735" and created.person_type == "FISICA"

    by_cpf = await asaas.find_customer(cpf_cnpj="11144477735")
    by_ref = await asaas.find_customer(external_reference="lead-42")
    assert by_cpf is not None and by_ref is not None
    assert by_cpf.id == by_ref.id == created.id
    assert await asaas.find_customer(external_reference="nobody") is None


@pytest.mark.asyncio
async def test_ensure_customer_does_not_duplicate_though_asaas_would(asaas: AsaasClient) -> None:
    data = CustomerCreate(name="Loja X", cpf_cnpj="11222333000181", external_reference="t-1")
    first = await asaas.ensure_customer(data)
    again = await asaas.ensure_customer(data)
    assert again.id == first.id and first.person_type == "JURIDICA"

    # Asaas itself accepts duplicates: a plain create makes a second customer.
    duplicate = await asaas.create_customer(data)
    assert duplicate.id != first.id
    same_cnpj = [c.id async for c in asaas.list_customers(cpf_cnpj="11222333000181")]
    assert sorted(same_cnpj) == sorted([first.id, duplicate.id])


@pytest.mark.asyncio
async def test_invalid_cpf_is_rejected_with_asaas_description(asaas: AsaasClient) -> None:
    with pytest.raises(AsaasRequestRejected) as caught:
        await asaas.create_customer(CustomerCreate(name="Zé", cpf_cnpj="12345678900"))
    err = caught.value
    assert isinstance(err, ClientError) and err.status == 400
    assert err.details == {"errors": [{"code": "invalid_object", "description": "O CPF/CNPJ informado é inválido."}]}


@pytest.mark.asyncio
async def test_unknown_id_is_not_found(asaas: AsaasClient) -> None:
    with pytest.raises(AsaasNotFound) as caught:
        await asaas.get_customer("cus_doesnotexist")
    assert isinstance(caught.value, NotFound) and caught.value.status == 404


@pytest.mark.asyncio
async def test_wrong_key_is_our_fault_not_the_callers(http: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    raw = await http.get(f"{sandbox.base_url}/v3/customers", headers={"access_token": "nope"})
    assert raw.status_code == 401
    assert raw.json()["errors"][0]["code"] == "invalid_access_token"
    assert raw.headers["X-Sandbox"] == "tridium-asaas-sandbox"

    prod_key = AsaasConfig(
        base_url=sandbox.base_url, access_token=SecretStr("$aact_prod_123"), user_agent="tridium-tests"
    )
    with pytest.raises(AsaasAuthFailed) as caught:
        await AsaasClient(http, prod_key).find_customer(cpf_cnpj="24971563792")
    assert not isinstance(caught.value, ClientError) and caught.value.status == 502
    assert "$aact_prod_123" not in str(caught.value)


@pytest.mark.asyncio
async def test_get_with_a_body_is_forbidden(http: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    raw = await http.request(
        "GET",
        f"{sandbox.base_url}/v3/customers",
        headers={"access_token": sandbox.config.access_token},
        content=b"{}",
    )
    assert raw.status_code == 403


@pytest.mark.asyncio
async def test_state_survives_a_restart_when_a_state_file_is_given(http: httpx.AsyncClient, tmp_path: Path) -> None:
    config = SandboxConfig(state_path=tmp_path / "asaas.json", seed=3)

    def client(base_url: str) -> AsaasClient:
        return AsaasClient(
            http, AsaasConfig(base_url=base_url, access_token=SecretStr(DEFAULT_ACCESS_TOKEN), user_agent="t")
        )

    async with running_sandbox(config) as first:
        created = await client(first.base_url).create_customer(CustomerCreate(name="Bia", cpf_cnpj="24971563792"))
    async with running_sandbox(config) as second:
        assert (await client(second.base_url).get_customer(created.id)).name == "Bia"
