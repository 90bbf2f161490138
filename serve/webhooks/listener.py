"""The webhook listener (ADR 0009): provider deliveries on their own port.

Through Serve's HTTP ingress a delivery pays HAProxy, the replica's direct-ingress
wrapper (request metadata, route matching over every API route for Serve's metrics, a
receive-proxy task per request, queue bookkeeping) and then the gateway app. Under plain
uvicorn the same app did about twice the deliveries per second on 2 cores (docs/benchmarks.md).
Providers need none of Serve's routing: they post to a URL we give them.

``WebhookListener`` is a Serve deployment like the others — Serve places it, health-checks
it and restarts it — whose replica runs the listener as its child process
(``python -m serve.webhooks.listener``: plain uvicorn with uvloop and httptools, its own
interpreter, so no Ray threads share its GIL) on ``TRIDIUM_WEBHOOK_PORT``, and fails its
health check when that process exits; the child gets SIGTERM if the replica dies, even by
SIGKILL. It serves the gateway app (``serve.app.build_fastapi``: the same middleware, lean
Asaas path, channel routes, error shape and rate limits) restricted by
:class:`WebhooksOnly` to ``/webhooks/*`` and ``/health``; anything else is a 404 that says
where the API is. Its ``/health`` checks Postgres and Redis (Ray is "not attached": the
replica's own health check covers the process). The socket is bound with
``SO_REUSEPORT``, so several replicas on one node share the port (the kernel spreads
connections). The Gateway keeps every ``/webhooks/*`` route too: a provider still pointed
at the API's URL is served, only slower.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys

import uvicorn
from ray import serve
from starlette.types import ASGIApp, Receive, Scope, Send

from core.logging import setup_logging
from core.settings import Settings

from ..app import build_fastapi

log = logging.getLogger(__name__)

# Paths the listener serves: provider webhooks and the probe.
_PREFIX = "/webhooks/"
_HEALTH = "/health"


class WebhooksOnly:
    """Pass ``/webhooks/*`` and ``/health`` to the app; everything else is a 404 in the
    project's error shape, naming the API's URL (a client that found this port by mistake
    learns where to go, and no API route is reachable without Serve's ingress)."""

    def __init__(self, app: ASGIApp, api_url: str):
        self.app = app
        self._not_here = json.dumps(
            {
                "error": {
                    "code": "not_found",
                    "message": f"this port takes provider webhooks (/webhooks/...) only; the API is at {api_url}",
                    "details": None,
                }
            }
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if scope["type"] == "http" and (path.startswith(_PREFIX) or path == _HEALTH):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket: refuse the handshake
            await send({"type": "websocket.close", "code": 1008})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self._not_here)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self._not_here})


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT`` (replicas share it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def create_app() -> ASGIApp:
    """The listener's ASGI app: the gateway app (settings from the environment), webhooks only."""
    settings = Settings()
    return WebhooksOnly(build_fastapi(settings), settings.api_base_url())


def _die_with_parent(parent: int) -> None:
    """In the listener process: SIGTERM when the replica that started it dies, even by
    SIGKILL, so no orphan keeps the port (Linux prctl PR_SET_PDEATHSIG; done here, not in a
    preexec_fn, which is unsafe in the replica's threaded process). If the parent is
    already gone, exit."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    if os.getppid() != parent:
        raise SystemExit("the replica that started this webhook listener is gone")


class ListenerProcess:
    """The listener's uvicorn server, as a child process of the replica (its own process
    and interpreter: no Ray threads sharing its GIL), started, watched and stopped here."""

    def __init__(self, host: str, port: int, *, env: dict[str, str] | None = None, startup_timeout_s: float = 90.0):
        self.host, self.port = host, port
        self._env = env
        self._startup_timeout_s = startup_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        # Bind once here: a port held by another program is a clear error in the constructor
        # (the child binds its own socket; SO_REUSEPORT lets both, and replicas, share it).
        listening_socket(self.host, self.port).close()
        # Ready is said by the child itself, through a pipe, once its socket listens: a
        # /health probe could be answered by another replica sharing the port.
        ready_r, ready_w = os.pipe()
        cmd = [sys.executable, "-m", "serve.webhooks.listener", "--host", self.host, "--port", str(self.port)]
        cmd += ["--parent", str(os.getpid()), "--ready-fd", str(ready_w)]
        try:
            # Popen, not asyncio.create_subprocess_exec: a fork+exec, and the wait is in a thread.
            self._proc = subprocess.Popen(cmd, env=self._env, pass_fds=(ready_w,))  # noqa: ASYNC220
        finally:
            os.close(ready_w)
        try:
            said = await asyncio.wait_for(asyncio.to_thread(os.read, ready_r, 1), self._startup_timeout_s)
        except TimeoutError:
            await self.stop()
            raise RuntimeError(f"the webhook listener on port {self.port} did not start in time") from None
        finally:
            os.close(ready_r)
        if said != b"1":  # EOF: the process ended before it listened
            code = await asyncio.to_thread(self._proc.wait)
            self._proc = None
            raise RuntimeError(
                f"the webhook listener on port {self.port} exited with code {code} while starting "
                "(its output is in this replica's log)"
            )
        log.info("webhook listener on %s:%s (pid %s)", self.host, self.port, self._proc.pid)

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # uvicorn: finish in-flight deliveries (5 s), then exit
        try:
            await asyncio.wait_for(asyncio.to_thread(proc.wait), 15)
        except TimeoutError:
            proc.kill()
            await asyncio.to_thread(proc.wait)


@serve.deployment(name="WebhookListener", num_replicas=1, ray_actor_options={"num_cpus": 0}, health_check_period_s=10)
class WebhookListener:
    """Serve-managed replica supervising the listener process (see the module doc)."""

    async def __init__(self, port: int) -> None:  # type: ignore[misc]  # Serve awaits async constructors
        settings = Settings()
        setup_logging(settings.log_level)
        self._listener = ListenerProcess(settings.host, port)
        await self._listener.start()

    async def check_health(self) -> None:
        if not self._listener.running():
            raise RuntimeError("the webhook listener process exited")

    async def __del__(self) -> None:
        await self._listener.stop()


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready_fd: int | None):
        super().__init__(config)
        self._ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self._ready_fd is not None:
            if not self.should_exit:  # lifespan and sockets are up
                os.write(self._ready_fd, b"1")
            os.close(self._ready_fd)
            self._ready_fd = None


def main() -> None:
    """``python -m serve.webhooks.listener --host H --port P``: the listener process."""
    ap = argparse.ArgumentParser(description="Tridium's webhook listener (serve/webhooks/listener.py)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--parent", type=int, help="pid of the supervising replica: exit with it")
    ap.add_argument("--ready-fd", type=int, help="write one byte here once listening (then closed)")
    args = ap.parse_args()
    if args.parent:
        _die_with_parent(args.parent)
    config = uvicorn.Config(
        "serve.webhooks.listener:create_app",
        factory=True,
        lifespan="on",
        loop="uvloop",
        http="httptools",
        access_log=False,  # the gateway's EdgeMiddleware writes the access log
        log_config=None,  # and core.logging formats it
        proxy_headers=False,  # X-Forwarded-For is never trusted (serve/middleware.py)
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    _Server(config, args.ready_fd).run(sockets=[listening_socket(args.host, args.port)])


__all__ = ["ListenerProcess", "WebhookListener", "WebhooksOnly", "create_app", "listening_socket"]

if __name__ == "__main__":
    main()
