"""Settings of the local Asaas sandbox server (a simulator: nothing here reaches Asaas)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SANDBOX_NAME = "tridium-asaas-sandbox"
# Sandbox keys carry the hmlg prefix, like Asaas's own sandbox keys; a prod key gets 401.
DEFAULT_ACCESS_TOKEN = "$aact_hmlg_tridium_local_sandbox_key_not_a_real_asaas_key"


class SandboxConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    access_token: str = Field(default=DEFAULT_ACCESS_TOKEN, min_length=1)
    public_url: str = Field(
        default="http://127.0.0.1:8090",
        description="where this server is reachable; used for invoiceUrl/bankSlipUrl",
    )
    state_path: Path | None = Field(default=None, description="JSON file to load at start and save to while running")
    time_scale: float = Field(
        default=1.0,
        gt=0,
        description="factor on the webhook penalty schedule (1e-4 turns its 12.8 h into 4.6 s)",
    )
    webhook_timeout_s: float = Field(default=10.0, gt=0, description="Asaas waits 10 s")
    duplicate_rate: float = Field(
        default=0.0, ge=0, le=1, description="chance a delivered event is delivered again (same id)"
    )
    seed: int | None = Field(default=None, description="seed for duplicates and ids; None = random")
    retention_days: int = Field(default=14, ge=1, description="queued events older than this are dropped")
    quota_requests: int = Field(default=25_000, ge=1, description="requests per quota window")
    quota_window_s: float = Field(default=12 * 3600, gt=0)
    endpoint_rate_limit: int | None = Field(
        default=None, ge=1, description="per-endpoint limit per window (RateLimit-* headers); None = off"
    )
    endpoint_rate_window_s: float = Field(default=60.0, gt=0)
    max_concurrent_gets: int = Field(default=50, ge=1)
    nonsequential_parallelism: int = Field(default=5, ge=1)
    tick_interval_s: float = Field(default=1.0, gt=0, description="how often date-based events are checked")
    pix_fee: Decimal = Decimal("1.99")
    boleto_fee: Decimal = Decimal("1.99")
    card_fixed_fee: Decimal = Decimal("0.49")
    card_percent_fee: Decimal = Decimal("2.99")
    dunning_fee: Decimal = Field(
        default=Decimal("9.99"), ge=0, description="flat fee of a dunning; the sandbox's number, not Asaas's price"
    )


__all__ = ["DEFAULT_ACCESS_TOKEN", "SANDBOX_NAME", "SandboxConfig"]
