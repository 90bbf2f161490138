"""Settings: one pydantic-settings class, built at entrypoints and passed down.

Never instantiate at import time (on Ray, import-time side effects run in every worker).
Well-known variables keep their usual names (``DATABASE_URL``, ``REDIS_URL``,
``RAY_ADDRESS``, ``OTEL_EXPORTER_OTLP_ENDPOINT``); everything else is ``TRIDIUM_*``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

INSECURE_DEV_SECRET = "tridium-dev-secret-change-me-0123456789abcdef"
# Fernet key (urlsafe base64 of 32 bytes) for channel-account secrets in dev/test only;
# prod refuses it. Generate a real one with
# `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
INSECURE_DEV_CHANNEL_KEY = "dHJpZGl1bS1kZXYtY2hhbm5lbC1rZXktY2hhbmdlLW0="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIDIUM_", extra="ignore", frozen=True)

    env: str = Field("dev", description="dev | test | prod; prod refuses insecure defaults")
    data_dir: Path = Field(Path(".tridium"), description="embedded services' data")

    # Postgres: the app connects as a non-owner, non-BYPASSRLS role; migrations as the owner.
    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("DATABASE_URL", "TRIDIUM_DATABASE_URL"))
    database_owner_url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DATABASE_OWNER_URL", "TRIDIUM_DATABASE_OWNER_URL")
    )
    # The outbox relay's login role: reads/updates event_log across tenants, nothing else.
    database_relay_url: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DATABASE_RELAY_URL", "TRIDIUM_DATABASE_RELAY_URL")
    )
    # Ports of the embedded services (used only when DATABASE_URL / REDIS_URL are unset).
    pg_port: int = 54329
    redis_port: int = 63799
    ray_dashboard_port: int = 8265
    db_pool_min: int = 1
    db_pool_max: int = 10

    redis_url: str | None = Field(None, validation_alias=AliasChoices("REDIS_URL", "TRIDIUM_REDIS_URL"))
    ray_address: str | None = Field(None, validation_alias=AliasChoices("RAY_ADDRESS", "TRIDIUM_RAY_ADDRESS"))

    # HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    gateway_replicas: int = Field(2, ge=1, description="Serve Gateway replicas (one per core is a good start)")
    cors_origins: list[str] = Field(default_factory=lambda: ["http://localhost:3000"])
    max_body_bytes: int = 1_048_576  # JSON routes; uploads have their own limit

    # Auth: HS256 secret (compatible with Supabase JWT secrets), optional JWKS for RS/ES keys.
    jwt_secret: SecretStr = SecretStr(INSECURE_DEV_SECRET)
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    jwks_url: str | None = None

    # Rate limits (requests per window) — public routes by client IP, others by token.
    rate_limit_public: int = 60
    rate_limit_authenticated: int = 60
    rate_limit_window_s: int = 60
    # POST /webhooks/*: providers deliver bursts from a few IPs (Asaas: 4), per client IP.
    rate_limit_webhooks: int = 6000
    # Webhooks skip FastAPI routing/dependencies and count their per-IP budget in-process
    # (per replica) instead of a Redis round trip (ADR 0006). False: the full path.
    webhook_lean_ingress: bool = True
    # A well-formed Asaas delivery is one autocommit statement (token check + raw event +
    # outbox event) on its own small pool that skips the reset on release (ADR 0008).
    # False: the tenant_tx path of four round trips (kept for side-by-side benchmarks).
    webhook_one_call: bool = True
    db_webhook_pool_max: int = Field(8, ge=1, description="connections of the webhook ingest pool, per process")
    # Group commit (ADR 0010): deliveries arriving while `webhook_batch_in_flight` batches
    # are being stored go together in one statement (one commit, one WAL flush), at most
    # `webhook_batch_max` each; no timer, so a lone delivery is stored at once. Needs
    # webhook_one_call. False: one statement per delivery.
    webhook_group_commit: bool = True
    webhook_batch_max: int = Field(64, ge=1, le=1000, description="deliveries per group-commit statement, at most")
    webhook_batch_in_flight: int = Field(2, ge=1, description="group-commit statements in flight per process")
    webhook_store_timeout_s: float = Field(
        5.0, gt=0, description="longest wait for Postgres to store a delivery (then 503; the provider retries)"
    )
    # The webhook listener (serve/webhooks/listener.py, ADR 0009): provider deliveries on
    # their own port, served by a Serve-managed replica's own uvicorn server instead of
    # Serve's HTTP ingress. `tridium up` takes another free port when this one is taken;
    # 0 starts no listener (providers then post to the gateway's /webhooks/*, which stays).
    webhook_port: int = Field(8001, ge=0, le=65535, description="the webhook listener's port; 0 = none")
    webhook_listener_replicas: int = Field(1, ge=1, description="listener replicas (they share the port)")
    public_webhook_base_url: str | None = Field(
        None, description="public URL providers post webhooks to; default public_base_url, else the listener"
    )

    idempotency_ttl_h: int = 24
    idempotency_lock_timeout_s: int = 90

    # Events
    events_stream: str = "tridium:events"
    outbox_poll_interval_s: float = 0.5

    # Agents (actors/): an OpenAI-compatible endpoint when all three LLM_* are set, else the
    # offline grounded model. Per agent, settings.model = auto|offline|openai picks one.
    llm_base_url: str | None = Field(None, validation_alias=AliasChoices("LLM_BASE_URL", "TRIDIUM_LLM_BASE_URL"))
    llm_api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("LLM_API_KEY", "TRIDIUM_LLM_API_KEY"))
    llm_model: str | None = Field(None, validation_alias=AliasChoices("LLM_MODEL", "TRIDIUM_LLM_MODEL"))
    llm_price_in_per_mtok: float = 0.0  # USD per million input tokens, for agent_runs.cost
    llm_price_out_per_mtok: float = 0.0
    # Versioned AI price table (JSON); default actors/cost/prices.json. See actors.cost.pricing.
    ai_price_table: str | None = None
    agent_model_default: str = Field("auto", description="model of agents set to auto: auto | offline | openai")
    agent_runtime: str = Field("auto", description="auto (Ray when initialised, else in-process) | ray | local")
    agent_idle_s: float = Field(300.0, description="an idle agent actor is passivated after this")
    agent_disconnect_grace_s: float = Field(3.0, description="a run whose client left is cancelled after this")
    agent_run_buffer_ttl_s: int = Field(3600, description="how long run events stay resumable")

    # Knowledge base (knowledge/, serve/routers/rag.py). See docs/knowledge.md.
    kb_upload_max_bytes: int = Field(50 * 1024 * 1024, description="uploads above this answer 413")
    kb_storage: str = Field("local", description="local | supabase (Storage HTTP API)")
    kb_bucket: str = "kb"
    supabase_url: str | None = Field(None, validation_alias=AliasChoices("SUPABASE_URL", "TRIDIUM_SUPABASE_URL"))
    supabase_service_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("SUPABASE_SERVICE_KEY", "TRIDIUM_SUPABASE_SERVICE_KEY")
    )
    # Embeddings: the offline MiniLM unless all of base URL + model are set (OpenAI-compatible).
    embed_base_url: str | None = Field(None, validation_alias=AliasChoices("EMBED_BASE_URL", "TRIDIUM_EMBED_BASE_URL"))
    embed_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("EMBED_API_KEY", "TRIDIUM_EMBED_API_KEY")
    )
    embed_model: str | None = Field(None, validation_alias=AliasChoices("EMBED_MODEL", "TRIDIUM_EMBED_MODEL"))
    embed_dim: int | None = None
    embed_lanes: int = Field(
        2, ge=1, description="single-model encode lanes of the local embedder on CPU (one core each; CUDA: 1)"
    )
    embed_threads: int = Field(1, ge=1, description="torch threads per lane of the local embedder")
    embed_group: int = Field(4, ge=1, description="texts per forward pass in a lane (length-sorted)")
    kb_ingest: str = Field("auto", description="auto (Ray when initialised, else in-process) | ray | local")
    kb_sweep_interval_s: float = 10.0
    kb_sweep_grace_s: float = 30.0
    kb_max_attempts: int = 3
    kb_pdf_range_pages: int = Field(
        16, ge=0, description="PDFs with more pages are parsed in ranges of this many pages in parallel; 0 = never"
    )
    kb_hnsw_threshold: int = Field(
        5_000, description="a tenant's chunks (per model) from which search uses HNSW (docs/knowledge.md)"
    )
    kb_hnsw_m: int = 16
    kb_hnsw_ef_construction: int = 64
    kb_ef_search: int = 100
    kb_max_scan_tuples: int = 20_000
    kb_query_cache_ttl_s: int = 3600
    kb_demo: bool = Field(True, description="load shared/data/kb-demo into the demo tenant on first start")
    kb_demo_dir: Path | None = None

    # Payments (tools/payments): `tridium up` starts the local Asaas sandbox on this port and
    # points the demo tenant at it; set TRIDIUM_ASAAS_SANDBOX=false to start none.
    asaas_sandbox: bool = True
    asaas_sandbox_port: int = 8090
    # `tridium up` starts the Instagram and e-mail (SMTP + Mailgun) sandboxes and gives the
    # demo tenant Instagram, e-mail and web chat accounts on them (tridium/channels_setup.py).
    channel_sandboxes: bool = True
    instagram_sandbox_port: int = 8093
    email_sandbox_port: int = 8094
    smtp_sandbox_port: int = 2525
    asaas_user_agent: str = "tridium/0.1"
    public_base_url: str | None = Field(None, description="public URL of the gateway (the API); default host:port")
    payments_reconcile_interval_s: float = Field(86400.0, gt=0, description="drift repair period (daily)")
    payments_reconcile_first_delay_s: float = Field(
        60.0, ge=0, description="first scheduled drift repair this long after start (the platform settles first)"
    )
    # Scheduled per-tenant rounds (drift repair, ads sync; serve/fanout.py): one Ray task per
    # tenant, each in its own worker process, at most this many at once.
    tenant_task_concurrency: int = Field(4, ge=1, le=64, description="per-tenant background Ray tasks at once")
    # Ads insights sync (tools/ads/sync.py, docs/ads.md): one Ray task per tenant each period.
    ads_sync_interval_s: float = Field(3600.0, gt=0, description="insights sync period (hourly)")
    ads_sync_first_delay_s: float = Field(
        60.0, ge=0, description="first scheduled sync this long after start (the platform settles first)"
    )
    ads_sync_days: int = Field(3, ge=1, le=30, description="rolling window: the last N days are re-read each sync")
    ads_sync_backfill_days: int = Field(0, ge=0, le=90, description="extra days further back on scheduled syncs")

    # Inbox (tools/inbox, docs/inbox.md). Channel-account secrets are encrypted with this
    # Fernet key; several comma-separated keys rotate (the first encrypts, all decrypt).
    channel_secrets_key: SecretStr = SecretStr(INSECURE_DEV_CHANNEL_KEY)
    # Web chat widget (serve/routers/widget.py): per widget key, per visitor.
    rate_limit_widget_sessions: int = Field(20, ge=1, description="visitor sessions per widget key+IP per window")
    rate_limit_widget_messages: int = Field(30, ge=1, description="messages per visitor per window")
    # E-mail inbound (Mailgun raw MIME): the whole POST, and each attachment.
    email_inbound_max_bytes: int = Field(25 * 1024 * 1024, description="Mailgun inbound POSTs above this answer 413")
    email_max_attachment_bytes: int = Field(10 * 1024 * 1024, description="attachments above this answer 413")
    widget_stream_poll_s: float = Field(0.5, gt=0, description="how often the widget stream looks for new messages")
    inbox_quiet_s: float = Field(4.0, ge=0, description="burst merge: answer after this long without a new message")
    inbox_max_wait_s: float = Field(
        15.0, ge=0, description="burst merge: answer at the latest this long after the first"
    )
    inbox_send_attempts: int = Field(5, ge=1, description="outbound sends per part before it ends failed")
    inbox_retry_base_s: float = Field(1.0, ge=0, description="outbound retry backoff: base * 2**attempt (jittered)")
    inbox_tick_s: float = Field(0.2, gt=0, description="how often the inbox scheduler looks for due turns")
    # `tridium up` starts the local WhatsApp Cloud API sandbox on this port and gives the
    # demo tenant a WhatsApp account on it; TRIDIUM_WHATSAPP_SANDBOX=false starts none.
    whatsapp_sandbox: bool = True
    whatsapp_sandbox_port: int = 8091
    whatsapp_api_version: str = Field("v21.0", pattern=r"^v\d+\.\d+$")
    # Ads (tools/ads, docs/ads.md): `tridium up` starts the Meta, Google Ads and TikTok ad
    # sandboxes (simulators) on these ports (a free port when one is taken) and gives the demo
    # tenant an ad account on each (tridium/ads_setup.py); TRIDIUM_ADS_SANDBOXES=false starts none.
    ads_sandboxes: bool = True
    meta_ads_sandbox_port: int = 8095
    google_ads_sandbox_port: int = 8096
    tiktok_ads_sandbox_port: int = 8097

    otel_endpoint: str | None = Field(
        None, validation_alias=AliasChoices("OTEL_EXPORTER_OTLP_ENDPOINT", "TRIDIUM_OTEL_ENDPOINT")
    )
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _refuse_insecure_prod(self) -> Settings:
        if self.env == "prod":
            secret = self.jwt_secret.get_secret_value()
            if secret == INSECURE_DEV_SECRET or len(secret) < 32:
                raise ValueError("TRIDIUM_JWT_SECRET must be set to a random value of >= 32 chars in prod")
            key = self.channel_secrets_key.get_secret_value()
            if not key or INSECURE_DEV_CHANNEL_KEY in key.split(","):
                raise ValueError("TRIDIUM_CHANNEL_SECRETS_KEY must be set to a Fernet key in prod")
            if self.database_url is None or self.redis_url is None:
                raise ValueError("DATABASE_URL and REDIS_URL are required in prod")
        return self

    def api_base_url(self) -> str:
        """Where clients reach the API (the gateway behind Serve's ingress)."""
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    def webhook_base_url(self) -> str:
        """Where providers are told to post webhooks: ``public_webhook_base_url``; else
        ``public_base_url`` (the operator's proxy decides where ``/webhooks/`` goes — the
        gateway serves it too); else the local listener, or the gateway without one."""
        if self.public_webhook_base_url:
            return self.public_webhook_base_url.rstrip("/")
        if self.public_base_url or not self.webhook_port:
            return self.api_base_url()
        return f"http://{self.host}:{self.webhook_port}"

    def require_database_url(self) -> str:
        if self.database_url is None:
            raise ValueError("DATABASE_URL is not set (tridium up sets it for the embedded Postgres)")
        return self.database_url.get_secret_value()

    def require_redis_url(self) -> str:
        if self.redis_url is None:
            raise ValueError("REDIS_URL is not set (tridium up sets it for the embedded Redis)")
        return self.redis_url


__all__ = ["INSECURE_DEV_CHANNEL_KEY", "INSECURE_DEV_SECRET", "Settings"]
