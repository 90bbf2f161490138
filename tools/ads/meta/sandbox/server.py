"""Running the Meta ads sandbox: ``serve`` for the CLI/launcher, ``running_sandbox`` for tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from tools.asaas.sandbox.server import background_server

from .app import Sandbox, create_app

DEFAULT_PORT = 8095


async def serve(port: int = DEFAULT_PORT, *, host: str = "127.0.0.1", log_level: str = "info") -> None:
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host=host, port=port, log_level=log_level, server_header=False, lifespan="on")
    )
    await server.serve()


@dataclass(frozen=True)
class RunningMetaAdsSandbox:
    base_url: str
    sandbox: Sandbox  # internal state, for assertions the HTTP API cannot make


@contextlib.asynccontextmanager
async def running_sandbox(host: str = "127.0.0.1") -> AsyncIterator[RunningMetaAdsSandbox]:
    """The sandbox on a free port of ``host`` (a real socket) while the block runs."""
    app = create_app()
    async with background_server(app, host) as url:
        yield RunningMetaAdsSandbox(url, app.state.sandbox)


__all__ = ["DEFAULT_PORT", "RunningMetaAdsSandbox", "running_sandbox", "serve"]
