"""One ``AsaasClient`` per tenant integration, over the process's single HTTP client.

The integration row says where Asaas is (``base_url``) and where its key lives
(``api_key_ref``): ``sandbox`` is the local simulator's public key, ``env:NAME`` an
environment variable of this process. Keys never touch the database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from db.payments import Integration
from tools.asaas import AsaasAuthFailed, AsaasClient, AsaasConfig
from tools.asaas.sandbox import DEFAULT_ACCESS_TOKEN

USER_AGENT = "tridium/0.1 (+https://github.com/tridium)"


def resolve_api_key(ref: str, env: Mapping[str, str]) -> SecretStr:
    if ref == "sandbox":
        return SecretStr(DEFAULT_ACCESS_TOKEN)
    if ref.startswith("env:"):
        value = env.get(ref.removeprefix("env:"))
        if value:
            return SecretStr(value)
        raise AsaasAuthFailed(f"the Asaas API key variable {ref.removeprefix('env:')} is not set on this server")
    raise AsaasAuthFailed(f"unsupported api_key_ref {ref!r}")


class AsaasAccounts:
    """Builds and caches connectors per (base_url, key reference). Created once per
    process by whoever owns ``http`` (lifespan, worker constructor, CLI)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        user_agent: str = USER_AGENT,
        env: Mapping[str, str] | None = None,
        config_overrides: dict[str, Any] | None = None,
    ) -> None:
        self._http = http
        self._user_agent = user_agent
        self._env = env if env is not None else os.environ
        self._overrides = config_overrides or {}
        self._clients: dict[tuple[str, str], AsaasClient] = {}

    def client(self, integration: Integration) -> AsaasClient:
        key = (integration.base_url, integration.api_key_ref)
        client = self._clients.get(key)
        if client is None:
            config = AsaasConfig(
                base_url=integration.base_url,
                access_token=resolve_api_key(integration.api_key_ref, self._env),
                user_agent=self._user_agent,
                **self._overrides,
            )
            client = self._clients[key] = AsaasClient(self._http, config)
        return client


__all__ = ["USER_AGENT", "AsaasAccounts", "resolve_api_key"]
