"""Running the e-mail sandbox: SMTP and its HTTP controls in one event loop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tools.asaas.sandbox import background_server

from .app import EmailSandbox, EmailSandboxConfig, create_app, start_smtp


@dataclass(frozen=True)
class RunningEmailSandbox:
    smtp_host: str
    smtp_port: int
    base_url: str  # the HTTP controls (/sandbox/...)
    sandbox: EmailSandbox


@contextlib.asynccontextmanager
async def running_email_sandbox(
    config: EmailSandboxConfig | None = None, *, host: str = "127.0.0.1"
) -> AsyncIterator[RunningEmailSandbox]:
    sandbox = EmailSandbox(config or EmailSandboxConfig())
    smtp = await start_smtp(sandbox, host)
    port = smtp.sockets[0].getsockname()[1]
    try:
        async with background_server(create_app(sandbox), host) as base_url:
            yield RunningEmailSandbox(host, port, base_url, sandbox)
    finally:
        smtp.close()
        await smtp.wait_closed()


__all__ = ["RunningEmailSandbox", "running_email_sandbox"]
