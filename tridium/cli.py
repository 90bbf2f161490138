"""The ``tridium`` command line."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Annotated

import httpx
import typer

from core.settings import Settings

from . import launcher
from .kb_cli import kb_app, sandbox_supabase_storage
from .payments_cli import payments_app, sandbox_app
from .tokens import IssuedToken, issue_token

app = typer.Typer(help="Tridium: multi-tenant back end for Luddy, Lucy and Clio.", no_args_is_help=True)
tenant_app = typer.Typer(help="Manage tenants.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(kb_app, name="kb")
app.add_typer(sandbox_app, name="sandbox")
sandbox_app.command("supabase-storage")(sandbox_supabase_storage)
app.add_typer(payments_app, name="payments")


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _env(settings: Settings) -> tuple[Settings, launcher.Environment]:
    """Start (or find) Postgres/Redis and return settings that point at them."""
    services = launcher.resolve_services(settings)
    return launcher.settings_with(services.env), services


@app.command()
def up() -> None:
    """Start everything (Postgres, Redis, Ray, Serve on :8000), create the demo tenant, print a token."""
    raise typer.Exit(launcher.up(_settings()))


@app.command()
def down(timeout: Annotated[float, typer.Option(help="seconds to wait")] = 60.0) -> None:
    """Stop a running `tridium up` (and any embedded service it left behind)."""
    settings = _settings()
    pf = launcher.pid_file(settings)
    if pf.exists():
        pid = int(pf.read_text().strip() or 0)
        try:
            os.kill(pid, signal.SIGTERM)
            typer.echo(f"asked tridium up (pid {pid}) to stop")
            deadline = time.monotonic() + timeout
            while pf.exists() and time.monotonic() < deadline:
                time.sleep(0.3)
        except ProcessLookupError:
            pf.unlink(missing_ok=True)
    services = launcher.resolve_services(settings, start=False)
    from tridium.services import EmbeddedPostgres, EmbeddedRedis

    data_dir = settings.data_dir.absolute()
    if settings.redis_url is None:
        EmbeddedRedis(data_dir, port=settings.redis_port).stop()
    if settings.database_url is None:
        EmbeddedPostgres(data_dir, port=settings.pg_port).stop()
    del services
    typer.echo("stopped")


@app.command()
def status() -> None:
    """Each service and its address."""
    settings = _settings()
    from tridium.services import EmbeddedPostgres, EmbeddedRedis

    data_dir = settings.data_dir.absolute()
    rows: list[tuple[str, str, str]] = []
    if settings.database_url is None:
        s = EmbeddedPostgres(data_dir, port=settings.pg_port).status()
        rows.append(("postgres", "running" if s.running else "stopped", f"127.0.0.1:{s.port} (embedded)"))
    else:
        rows.append(("postgres", "external", "DATABASE_URL"))
    if settings.redis_url is None:
        r = EmbeddedRedis(data_dir, port=settings.redis_port).status()
        rows.append(("redis", "running" if r.running else "stopped", f"127.0.0.1:{r.port} (embedded)"))
    else:
        rows.append(("redis", "external", settings.redis_url))
    pf = launcher.pid_file(settings)
    up_running = pf.exists()
    rows.append(
        (
            "ray",
            "running" if up_running else "stopped",
            settings.ray_address or f"local, dashboard http://127.0.0.1:{settings.ray_dashboard_port}",
        )
    )
    base = f"http://{settings.host}:{settings.port}"
    try:
        health = httpx.get(f"{base}/health", timeout=3)
        gw = "healthy" if health.status_code == 200 else f"unhealthy ({health.status_code})"
    except httpx.HTTPError:
        gw = "stopped"
    rows.append(("gateway", gw, base))
    for name, state, addr in rows:
        typer.echo(f"{name:<10} {state:<12} {addr}")


@app.command("migrate")
def migrate_cmd() -> None:
    """Apply pending database migrations (as the owner role)."""
    _, services = _env(_settings())
    from db.migrate import migrate

    if services.owner_url is None:
        raise typer.BadParameter("DATABASE_OWNER_URL is required to run migrations")
    applied = asyncio.run(migrate(services.owner_url))
    typer.echo(f"applied: {', '.join(applied)}" if applied else "database is up to date")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    user: Annotated[
        str | None, typer.Option(help="user e-mail (default: the tenant's own owner, owner@SLUG.tridium.local)")
    ] = None,
    role: Annotated[str, typer.Option(help="owner | admin | member | viewer")] = "owner",
    ttl_hours: Annotated[int, typer.Option(help="token lifetime")] = 24 * 7,
) -> None:
    """Print a bearer token for USER in TENANT (creating the membership with ROLE).

    Without --user the token is for the tenant's own owner user, so it reaches that tenant
    only. Which user and role it is for goes to stderr; stdout is the token alone."""
    from core.tenancy import ROLES

    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    settings, _ = _env(_settings())

    async def run() -> IssuedToken:
        from db.pool import create_pool

        pool = await create_pool(settings.require_database_url(), max_size=1)
        try:
            return await issue_token(pool, settings, tenant, email=user, role=role, ttl_s=ttl_hours * 3600)
        except LookupError as exc:
            raise typer.BadParameter(str(exc)) from exc
        finally:
            await pool.close()

    issued = asyncio.run(run())
    typer.echo(issued.describe(), err=True)
    typer.echo(issued.token)


@tenant_app.command("create")
def tenant_create(slug: str, name: str) -> None:
    """Create a tenant SLUG with display NAME."""
    settings, _ = _env(_settings())

    async def run() -> str:
        from db.pool import create_pool
        from db.tenants import create_tenant

        pool = await create_pool(settings.require_database_url(), max_size=1)
        try:
            return str(await create_tenant(pool, slug, name))
        finally:
            await pool.close()

    typer.echo(asyncio.run(run()))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
