"""Configuration of one Asaas account as the connector sees it.

Built by the entrypoint from the settings (never at import time) and passed in; frozen so a
client cannot drift from what was configured.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

SANDBOX_BASE_URL = "https://api-sandbox.asaas.com"
PRODUCTION_BASE_URL = "https://api.asaas.com"


class AsaasConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    base_url: str = Field(
        default=SANDBOX_BASE_URL,
        description="API root without /v3 (Asaas sandbox, production, or our local sandbox)",
    )
    access_token: SecretStr = Field(description="API key, sent as the access_token header")
    user_agent: str = Field(min_length=1, description="mandatory for accounts created from 13/06/2024")
    max_attempts: int = Field(default=4, ge=1, description="attempts per call, first one included")
    backoff_initial_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=10.0, ge=0)
    max_rate_limit_wait_s: float = Field(
        default=30.0, ge=0, description="block at most this long for a rate-limit reset, else raise"
    )
    max_concurrent_gets: int = Field(default=40, ge=1, description="Asaas refuses more than 50")
    card_timeout_s: float = Field(
        default=60.0, gt=0, description="card captures: Asaas asks for >= 60 s to avoid duplicates"
    )
    outcome_settle_s: float = Field(
        default=1.0, ge=0, description="pause before looking up a create whose answer was lost"
    )

    @field_validator("base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        value = value.rstrip("/")
        if value.endswith("/v3"):
            raise ValueError("base_url is the API root; the connector adds /v3 itself")
        return value


__all__ = ["PRODUCTION_BASE_URL", "SANDBOX_BASE_URL", "AsaasConfig"]
