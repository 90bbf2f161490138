"""Running the TikTok sandbox: ``serve`` for the CLI, ``running_sandbox`` for tests (a real
uvicorn server on a real socket, so the connector talks HTTP to it as it would to TikTok)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from .app import create_app
from .store import Store


async def serve(port: int = 8097, *, host: str = "127.0.0.1", seed: int = 0, log_level: str = "info") -> None:
    """Serve the sandbox until cancelled (``python -m tools.ads.tiktok.sandbox``)."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(seed), host=host, port=port, log_level=log_level, server_header=False)
    )
    await server.serve()


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str
    store: Store  # internal state, for assertions the HTTP API cannot make


@contextlib.asynccontextmanager
async def running_sandbox(*, seed: int = 0, host: str = "127.0.0.1") -> AsyncIterator[RunningSandbox]:
    """A sandbox on a free port of ``host`` for the duration of the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    app = create_app(seed)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the TikTok sandbox stopped before it started")
            await asyncio.sleep(0.01)
        yield RunningSandbox(f"http://{host}:{sock.getsockname()[1]}", app.state.store)
    finally:
        server.should_exit = True
        await task
        sock.close()


__all__ = ["RunningSandbox", "running_sandbox", "serve"]
