"""Running the sandbox: ``serve`` for the CLI, ``running_sandbox`` for tests and tools.

Both use a real uvicorn server on a real socket, so connectors talk HTTP to it exactly as
they talk to Asaas.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from .app import Sandbox, create_app
from .config import SandboxConfig


async def serve(
    port: int = 8090,
    *,
    host: str = "127.0.0.1",
    config: SandboxConfig | None = None,
    log_level: str = "info",
) -> None:
    """Serve the sandbox until cancelled (``python -m tools.asaas.sandbox``)."""
    config = config or SandboxConfig()
    if config.public_url == SandboxConfig().public_url:
        config = config.model_copy(update={"public_url": f"http://{host}:{port}"})
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host=host,
            port=port,
            log_level=log_level,
            server_header=False,  # ours says tridium-asaas-sandbox
            lifespan="on",
        )
    )
    await server.serve()


def _bind(host: str) -> socket.socket:
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every response waits ~40 ms on Nagle + delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    return sock


@contextlib.asynccontextmanager
async def _serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, lifespan="auto"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()  # raises the start-up error
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def background_server(app: ASGIApp, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve any ASGI ``app`` on a free port while the block runs; yield its base URL.
    Used for test webhook receivers."""
    sock = _bind(host)
    async with _serving(app, sock):
        yield f"http://{host}:{sock.getsockname()[1]}"


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str
    config: SandboxConfig
    sandbox: Sandbox  # internal state, for assertions the HTTP API cannot make


@contextlib.asynccontextmanager
async def running_sandbox(
    config: SandboxConfig | None = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[RunningSandbox]:
    """A sandbox on a free port of ``host`` for the duration of the block."""
    sock = _bind(host)
    base_url = f"http://{host}:{sock.getsockname()[1]}"
    config = (config or SandboxConfig()).model_copy(update={"public_url": base_url})
    app = create_app(config)
    async with _serving(app, sock):
        yield RunningSandbox(base_url, config, app.state.sandbox)


__all__ = ["RunningSandbox", "background_server", "running_sandbox", "serve"]
