"""Running the sandbox: ``serve`` for the CLI, ``running_sandbox`` for tests (a real
uvicorn server on a real socket, random port)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn

from .app import GoogleAdsSandbox, create_app


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str
    sandbox: GoogleAdsSandbox  # internal state, for assertions the HTTP API cannot make


async def serve(port: int = 8096, *, host: str = "127.0.0.1", seed: int = 0, log_level: str = "info") -> None:
    """Serve until cancelled (``python -m tools.ads.google.sandbox``)."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(seed=seed), host=host, port=port, log_level=log_level, server_header=False)
    )
    await server.serve()


@contextlib.asynccontextmanager
async def running_sandbox(
    *, host: str = "127.0.0.1", seed: int = 0, stream_batch_size: int = 10_000
) -> AsyncIterator[RunningSandbox]:
    # IPPROTO_TCP so asyncio sets TCP_NODELAY (see tools/asaas/sandbox/server.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, 0))
    app = create_app(seed=seed, stream_batch_size=stream_batch_size)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", server_header=False, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped before it started")
            await asyncio.sleep(0.01)
        yield RunningSandbox(f"http://{host}:{sock.getsockname()[1]}", app.state.sandbox)
    finally:
        server.should_exit = True
        await task
        sock.close()


__all__ = ["RunningSandbox", "running_sandbox", "serve"]
