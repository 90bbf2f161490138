"""The local launcher behind ``tridium up`` / ``make run``.

Embedded defaults: Postgres (+pgvector) and Redis under ``./.tridium`` unless
``DATABASE_URL`` / ``REDIS_URL`` are set; Ray local unless ``RAY_ADDRESS``; the Serve app
on http://127.0.0.1:8000; a demo tenant and a token for it. Ctrl-C (or ``tridium down``)
stops everything this process started; data stays for the next start.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.settings import Settings
from db.migrate import migrate
from db.pool import create_pool
from db.tenants import ensure_tenant, upsert_membership
from serve.auth import mint_token
from tridium import kb_demo

log = logging.getLogger("tridium.launcher")

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.tridium.local"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_window(lo: int, hi: int, width: int = 64) -> int:
    """The first port of ``width`` consecutive free ports in [lo, hi), picked at random."""
    rng = secrets.SystemRandom()
    start = lo
    for _ in range(40):
        start = rng.randrange(lo, hi - width)
        if all(_port_free(p) for p in range(start, start + width)):
            return start
    return start


def serve_ingress_env(data_dir: Path) -> dict[str, str]:
    """Environment for Serve's HAProxy ingress, private to this instance.

    HAProxy's stats and metrics ports and its admin socket default to fixed values
    (8404, 9101, /tmp/haproxy-serve), and the replicas' direct-ingress ports to fixed ranges
    (HTTP from 30000, gRPC from 40000): two instances on one machine (``make run`` while
    ``make test`` runs) collided — one instance's HAProxy reached the other's gateway
    replicas and answered 401 to its own tokens. Each instance gets free ports, its own
    port windows and its own dir.
    """
    # Ray appends a 56-character cluster hash to the socket's directory and HAProxy allows
    # 97 characters in a socket path: keep the base short, one per data dir.
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:10]
    base = Path(tempfile.gettempdir()) / f"thp-{digest}"
    base.mkdir(parents=True, exist_ok=True)
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(base / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(base),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(base / "server-state"),
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(http := _free_window(20000, 29000)),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(http + 63),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(grpc := _free_window(12000, 19000)),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(grpc + 63),
    }


def demo_user_id(email: str) -> str:
    """Stable user id for CLI-made users (a real deployment uses its IdP's ``sub``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tridium:user:{email.lower()}"))


def jwt_secret(data_dir: Path) -> str:
    """The dev JWT secret, generated once and kept (0600) so tokens survive restarts."""
    path = data_dir / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    return value


@dataclass
class Environment:
    """Addresses of the services, resolved from the environment or started embedded."""

    env: dict[str, str]
    started: list[Any] = field(default_factory=list)  # embedded services we must stop
    owner_url: str | None = None


def resolve_services(settings: Settings, *, start: bool = True) -> Environment:
    """Start (or find) Postgres and Redis; return the env every process should see."""
    from tridium.services import EmbeddedPostgres, EmbeddedRedis, ensure_redis_server_installed

    data_dir = settings.data_dir.absolute()
    env: dict[str, str] = {"TRIDIUM_DATA_DIR": str(data_dir)}
    out = Environment(env)
    if settings.database_url is None:
        pg = EmbeddedPostgres(data_dir, port=settings.pg_port)
        if start:
            pg.start()
            out.started.append(pg)
        env["DATABASE_URL"] = pg.app_url()
        env["DATABASE_OWNER_URL"] = pg.owner_url()
        env["DATABASE_RELAY_URL"] = pg.relay_url()
        out.owner_url = pg.owner_url()
    else:
        env["DATABASE_URL"] = settings.database_url.get_secret_value()
        if settings.database_owner_url is not None:
            env["DATABASE_OWNER_URL"] = out.owner_url = settings.database_owner_url.get_secret_value()
        if settings.database_relay_url is not None:
            env["DATABASE_RELAY_URL"] = settings.database_relay_url.get_secret_value()
    if settings.redis_url is None:
        rd = EmbeddedRedis(data_dir, port=settings.redis_port)
        if start:
            ensure_redis_server_installed()
            rd.start()
            out.started.append(rd)
        env["REDIS_URL"] = rd.url()
    else:
        env["REDIS_URL"] = settings.redis_url
    if "TRIDIUM_JWT_SECRET" not in os.environ:
        env["TRIDIUM_JWT_SECRET"] = jwt_secret(data_dir)
    return out


def settings_with(env: dict[str, str]) -> Settings:
    os.environ.update(env)
    return Settings()


def resolve_webhook_port(settings: Settings, env: dict[str, str]) -> None:
    """The webhook listener's port (ADR 0009): the configured one when free, else a free
    one (said on stderr); written to ``env`` so every replica and the demo setup agree."""
    wanted = settings.webhook_port
    if not wanted:
        return
    port = wanted if _port_free(wanted) else _free_port()
    if port != wanted:
        print(f"warning: port {wanted} is taken; the webhook listener uses {port}", file=sys.stderr)
    env["TRIDIUM_WEBHOOK_PORT"] = str(port)


async def prepare_database(settings: Settings, owner_url: str | None) -> str:
    """Migrate (as owner) and make sure the demo tenant and its owner exist; return a token."""
    if owner_url is None:
        raise SystemExit("DATABASE_OWNER_URL is required to apply migrations (the app role cannot)")
    applied = await migrate(owner_url)
    if applied:
        log.info("migrations applied", extra={"versions": applied})
    pool = await create_pool(settings.require_database_url(), max_size=2)
    try:
        tenant_id = await ensure_tenant(pool, DEMO_SLUG, "Demo")
        user_id = demo_user_id(DEMO_EMAIL)
        await upsert_membership(pool, tenant_id, user_id, DEMO_EMAIL, "owner")
    finally:
        await pool.close()
    return mint_token(settings, user_id=user_id, email=DEMO_EMAIL, ttl_s=30 * 24 * 3600)


def start_ray_and_serve(settings: Settings, env: dict[str, str]) -> str | None:
    """Start (or join) Ray and deploy the Serve app; returns the dashboard URL if any."""
    import ray
    from ray import serve

    from serve.deployments import build_app

    # No usage telemetry from Ray or agno (agent actors also get AGNO_TELEMETRY=false).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("AGNO_TELEMETRY", "false")

    local = settings.ray_address is None
    init_kwargs: dict[str, Any] = {
        "namespace": "tridium",
        "runtime_env": {"env_vars": env},
        "logging_level": logging.WARNING,
        "log_to_driver": False,
    }
    if local:
        init_kwargs |= {
            "include_dashboard": True,
            "dashboard_host": "127.0.0.1",
            "dashboard_port": settings.ray_dashboard_port,
            "object_store_memory": 256 * 1024 * 1024,
        }
    else:
        init_kwargs["address"] = settings.ray_address
    ctx = ray.init(**init_kwargs)
    serve.start(http_options={"host": settings.host, "port": settings.port})
    # serve.run waits until EVERY deployment is ready (the Embedder loads torch and its
    # model); the platform is usable as soon as the gateway answers /health, so deploy in
    # a thread and let wait_healthy() decide. A deployment error still surfaces there.
    app = build_app(
        env,
        gateway_replicas=settings.gateway_replicas,
        webhook_port=settings.webhook_port,
        webhook_replicas=settings.webhook_listener_replicas,
    )

    def deploy() -> None:
        try:
            serve.run(app, name="tridium", route_prefix="/", blocking=False)
        except Exception as exc:  # noqa: BLE001 — reported by wait_healthy on the main thread
            _deploy_errors.append(exc)

    threading.Thread(target=deploy, name="serve-deploy", daemon=True).start()
    dashboard = getattr(ctx, "dashboard_url", None)
    return f"http://{dashboard}" if dashboard and not str(dashboard).startswith("http") else dashboard


_deploy_errors: list[BaseException] = []


def wait_healthy(base_url: str, timeout_s: float = 90.0, what: str = "gateway") -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if _deploy_errors:
            raise SystemExit(f"deploying the Serve application failed: {_deploy_errors[0]!r}")
        try:
            r = httpx.get(f"{base_url}/health", timeout=3)
            last = r.json()
            if r.status_code == 200 and last.get("ok"):
                return last
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise SystemExit(f"the {what} did not become healthy in {timeout_s:.0f}s: {json.dumps(last)}")


JOB_ENV_FILE = "ray-job-env.yaml"


def write_job_runtime_env(data_dir: Path, env: dict[str, str]) -> Path:
    """The runtime environment for ``ray job submit --runtime-env`` (batch jobs such as
    ``python -m knowledge.reindex``): the settings this platform gave Ray, and a PATH on
    which ``python`` is this virtualenv's. Not the owner role's URL: jobs run as the app role.
    Secrets inside: 0600, removed at shutdown."""
    job_env = {k: v for k, v in env.items() if not k.startswith("RAY_SERVE_") and k != "DATABASE_OWNER_URL"}
    job_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = data_dir / JOB_ENV_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"env_vars": job_env}, f, indent=2)  # JSON is YAML
    return path


def pid_file(settings: Settings) -> Path:
    return settings.data_dir.absolute() / "up.pid"


def banner(
    base_url: str, token: str, dashboard: str | None, env: dict[str, str], elapsed: float, webhooks: str | None = None
) -> str:
    webhooks = webhooks or base_url
    curl = (
        f"curl -s {base_url}/leads -H \"Authorization: Bearer $TOKEN\" -H 'X-Tenant-Id: {DEMO_SLUG}'"
        f" -H \"Idempotency-Key: $(date +%s%N)\" -H 'Content-Type: application/json'"
        f' -d \'{{"name": "Maria Silva", "email": "maria@example.com", "source": "instagram"}}\''
    )
    lines = [
        "",
        f"Tridium is up in {elapsed:.1f}s",
        f"  API        {base_url}   (docs: {base_url}/docs, metrics: {base_url}/metrics)",
        f"  Webhooks   {webhooks}   (providers post here: /webhooks/..., ADR 0009)",
        f"  Postgres   {_redact(env['DATABASE_URL'])}",
        f"  Redis      {env['REDIS_URL']}",
        f"  Ray        dashboard {dashboard or 'n/a (joined an existing cluster)'}",
        f"  Tenant     {DEMO_SLUG} (owner {DEMO_EMAIL})",
        "",
        f"export TOKEN={token}",
        f"curl -s {base_url}/health",
        curl,
        f"curl -s {base_url}/leads -H \"Authorization: Bearer $TOKEN\" -H 'X-Tenant-Id: {DEMO_SLUG}'",
        "",
        "Ctrl-C stops everything; data stays in ./.tridium",
    ]
    return "\n".join(lines)


def _redact(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def up(settings: Settings) -> int:
    """Bring everything up and block until Ctrl-C / SIGTERM."""
    started_at = time.monotonic()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("AGNO_TELEMETRY", "false")
    # Serve's HAProxy ingress + throughput mode: HTTP goes straight to the replicas instead
    # of through the Python proxy actor (bench/gateway.py measures the difference).
    for flag, value in serve_ingress_env(settings.data_dir.absolute()).items():
        os.environ.setdefault(flag, value)
    services = resolve_services(settings)
    stop_requested = False

    def request_stop(*_: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pf = pid_file(settings)
    pf.parent.mkdir(parents=True, exist_ok=True)
    pf.write_text(str(os.getpid()))
    try:
        env = services.env | {
            k: v for k, v in os.environ.items() if k.startswith(("TRIDIUM_", "LLM_", "OTEL_", "AGNO_", "ASAAS_"))
        }
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        env |= {flag: os.environ[flag] for flag in os.environ if flag.startswith("RAY_SERVE_")}
        env["AGNO_TELEMETRY"] = "false"
        settings = settings_with(env)
        resolve_webhook_port(settings, env)
        settings = settings_with(env)
        token = asyncio.run(prepare_database(settings, services.owner_url))
        asyncio.run(kb_demo.ensure_indexes(settings, services.owner_url))
        sandbox = start_asaas_sandbox(settings, services)
        channel_sandboxes = start_channel_sandboxes(settings, services)
        whatsapp = start_whatsapp_sandbox(settings, services)
        ads = start_ads_sandboxes(settings, services)
        job_env = write_job_runtime_env(settings.data_dir.absolute(), env)
        dashboard = start_ray_and_serve(settings, env)
        # ray.init installs its own fatal-signal handler for SIGTERM: take SIGTERM back so
        # `tridium down` stops us cleanly instead of crashing the driver.
        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        base_url = f"http://{settings.host}:{settings.port}"
        wait_healthy(base_url)
        webhooks = settings.webhook_base_url()
        if settings.webhook_port:
            # Providers are pointed at the listener next: it must answer first.
            wait_healthy(f"http://{settings.host}:{settings.webhook_port}", what="webhook listener")
        print(banner(base_url, token, dashboard, env, time.monotonic() - started_at, webhooks), flush=True)
        if dashboard:
            print(
                f"Batch jobs: RAY_AUTH_MODE=token ray job submit --address {dashboard} --runtime-env {job_env} "
                "-- python -m …  (docs/operations.md)",
                flush=True,
            )
        if sandbox is not None:
            demo_payments(settings, sandbox.url)
        if channel_sandboxes:
            demo_channels(settings)
        if whatsapp is not None:
            demo_whatsapp(settings, whatsapp.url)
        if ads:
            demo_ads(settings, ads)
        kb_demo.start_loading(base_url, token, DEMO_SLUG, settings)
        while not stop_requested:
            time.sleep(0.3)
        print("\nStopping Tridium…", flush=True)
        return 0
    finally:
        shutdown(services)
        pf.unlink(missing_ok=True)
        (settings.data_dir.absolute() / JOB_ENV_FILE).unlink(missing_ok=True)


def start_asaas_sandbox(settings: Settings, services: Environment) -> Any:
    """The local Asaas sandbox (a simulator) for the demo tenant, stopped with the rest."""
    if not settings.asaas_sandbox:
        return None
    from tridium.payments_setup import asaas_sandbox

    sandbox = asaas_sandbox(settings.data_dir.absolute(), settings.asaas_sandbox_port)
    sandbox.start()
    services.started.append(sandbox)
    return sandbox


def start_channel_sandboxes(settings: Settings, services: Environment) -> list[Any]:
    """The Instagram and e-mail sandboxes (simulators), stopped with the rest."""
    if not settings.channel_sandboxes:
        return []
    from tridium.channels_setup import channel_sandboxes

    started = []
    for sandbox in channel_sandboxes(settings, settings.data_dir.absolute()):
        sandbox.start()
        services.started.append(sandbox)
        started.append(sandbox)
    return started


def demo_channels(settings: Settings) -> None:
    """The demo tenant's Instagram, e-mail and web chat accounts on the sandboxes."""
    from tridium.channels_setup import setup_demo_channels

    try:
        info = asyncio.run(setup_demo_channels(settings, DEMO_SLUG))
    except Exception as exc:  # noqa: BLE001 — the platform is up; channel setup is reported, not fatal
        print(f"warning: demo channels not configured: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    print(
        f"Channel sandboxes (simulated): Instagram http://127.0.0.1:{settings.instagram_sandbox_port}, "
        f"e-mail http://127.0.0.1:{settings.email_sandbox_port} (SMTP :{settings.smtp_sandbox_port}); "
        f"widget key {info['widget_key']}; inbound e-mail {info['inbox_address']}  (docs/inbox.md)",
        flush=True,
    )


def start_whatsapp_sandbox(settings: Settings, services: Environment) -> Any:
    """The local WhatsApp Cloud API sandbox (a simulator), stopped with the rest."""
    if not settings.whatsapp_sandbox:
        return None
    from tridium.inbox_setup import whatsapp_sandbox

    sandbox = whatsapp_sandbox(settings.data_dir.absolute(), settings.whatsapp_sandbox_port)
    sandbox.start()
    services.started.append(sandbox)
    return sandbox


def demo_whatsapp(settings: Settings, sandbox_url: str) -> None:
    """Give the demo tenant a WhatsApp account on the sandbox; say how to write to Luddy."""
    from tridium.inbox_setup import setup_demo_whatsapp

    try:
        account = asyncio.run(setup_demo_whatsapp(settings, DEMO_SLUG, sandbox_url))
    except Exception as exc:  # noqa: BLE001 — the platform is up; the inbox demo is reported, not fatal
        print(f"warning: demo WhatsApp not configured: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    print(
        f"WhatsApp sandbox {sandbox_url} (simulated, not Meta): phone number id {account['phone_number_id']} "
        f"-> {account['webhook_url']}\n  Message Luddy: README.md, 'WhatsApp'; docs/inbox.md",
        flush=True,
    )


def start_ads_sandboxes(settings: Settings, services: Environment) -> dict[str, str]:
    """The Meta, Google Ads and TikTok sandboxes (simulators), stopped with the rest; their URLs."""
    if not settings.ads_sandboxes:
        return {}
    from concurrent.futures import ThreadPoolExecutor

    from tridium.ads_setup import ads_sandboxes

    sandboxes = ads_sandboxes(settings, settings.data_dir.absolute())
    services.started.extend(sandboxes.values())  # stopped with the rest even if one fails to start
    with ThreadPoolExecutor(len(sandboxes)) as pool:  # three small servers: start them side by side
        list(pool.map(lambda sb: sb.start(), sandboxes.values()))
    return {platform: sb.url for platform, sb in sandboxes.items()}


def demo_ads(settings: Settings, urls: dict[str, str]) -> None:
    """Give the demo tenant an ad account on each ad sandbox; say where they are."""
    from tridium.ads_setup import setup_demo_ads

    try:
        accounts = asyncio.run(setup_demo_ads(settings, DEMO_SLUG, urls))
    except Exception as exc:  # noqa: BLE001 — the platform is up; the ads demo is reported, not fatal
        print(f"warning: demo ad accounts not configured: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    listed = ", ".join(f"{a['platform']} {a['url']} (account {a['account_id']})" for a in accounts)
    print(
        f"Ad sandboxes (simulated, not Meta/Google/TikTok): {listed}\n"
        "  The ads loop: README.md, 'The ads loop'; docs/ads.md",
        flush=True,
    )


def demo_payments(settings: Settings, sandbox_url: str) -> None:
    """Point the demo tenant at the sandbox and provision its webhook; say where it is."""
    from tridium.payments_setup import setup_demo_payments

    try:
        hook = asyncio.run(setup_demo_payments(settings, DEMO_SLUG, sandbox_url, DEMO_EMAIL))
    except Exception as exc:  # noqa: BLE001 — the platform is up; payments setup is reported, not fatal
        print(f"warning: demo payments not configured: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return
    print(
        f"Asaas sandbox {sandbox_url} (simulated, not Asaas): demo webhook {hook['webhookId']} -> {hook['url']}\n"
        "  Pix checkout walkthrough: docs/payments.md",
        flush=True,
    )


def shutdown(services: Environment) -> None:
    try:
        import ray
        from ray import serve

        if ray.is_initialized():
            try:
                serve.shutdown()  # type: ignore[no-untyped-call]
            finally:
                ray.shutdown()
    except Exception as exc:  # noqa: BLE001 — keep stopping the other services
        print(f"warning: Ray did not stop cleanly: {exc}", file=sys.stderr)
    for svc in reversed(services.started):
        svc.stop()
    print("Stopped. Data kept in ./.tridium", flush=True)


__all__ = ["DEMO_SLUG", "demo_user_id", "prepare_database", "resolve_services", "shutdown", "up"]
