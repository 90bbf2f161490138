"""``tridium sandbox asaas`` and ``tridium payments …`` commands."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Annotated

import typer

from core.settings import Settings

sandbox_app = typer.Typer(help="Local simulators of external providers (never the real ones).", no_args_is_help=True)
payments_app = typer.Typer(help="Payments (Asaas): reconciliation and webhooks.", no_args_is_help=True)


@sandbox_app.command("asaas")
def sandbox_asaas(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8090,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    state: Annotated[str | None, typer.Option(help="JSON file that keeps the sandbox's state")] = None,
    duplicate_rate: Annotated[float, typer.Option(help="chance a webhook is delivered twice")] = 0.0,
    time_scale: Annotated[float, typer.Option(help="factor on the webhook penalty schedule")] = 1.0,
) -> None:
    """Run the Asaas sandbox server (a simulator of Asaas v3; Ctrl-C stops it)."""
    from tools.asaas.sandbox.__main__ import main as sandbox_main

    argv = ["--host", host, "--port", str(port), "--duplicate-rate", str(duplicate_rate)]
    argv += ["--time-scale", str(time_scale)]
    if state:
        argv += ["--state", state]
    try:
        sandbox_main(argv)
    except KeyboardInterrupt:
        typer.echo("sandbox stopped")


def _tenant_settings() -> Settings:
    from . import launcher

    try:
        settings = Settings()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    services = launcher.resolve_services(settings)
    return launcher.settings_with(services.env)


@payments_app.command("reconcile")
def reconcile(
    tenant: Annotated[str, typer.Option(help="tenant slug")],
    since: Annotated[str, typer.Option(help="first day (YYYY-MM-DD) of payments created or paid to re-read")],
    until: Annotated[str | None, typer.Option(help="last day (YYYY-MM-DD), default: no limit")] = None,
) -> None:
    """Repair drift now: pull TENANT's Asaas payments since DATE and fix what webhooks missed."""
    try:
        first = date.fromisoformat(since)
        last = date.fromisoformat(until) if until else None
    except ValueError as exc:
        raise typer.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    settings = _tenant_settings()

    async def run() -> dict[str, object]:
        from db.pool import create_pool
        from db.tenants import get_tenant_by_slug
        from serve.payments_runtime import run_drift_repair

        pool = await create_pool(settings.require_database_url(), max_size=1)
        try:
            tenant_id = await get_tenant_by_slug(pool, tenant)
        finally:
            await pool.close()
        if tenant_id is None:
            raise typer.BadParameter(f"no tenant with slug {tenant!r}")
        return await run_drift_repair(settings, tenant_id, first, last)

    typer.echo(json.dumps(asyncio.run(run()), indent=2, default=str))


__all__ = ["payments_app", "sandbox_app"]
