"""``python -m tools.channels.email.sandbox [--smtp-port 2525] [--port 8094] [--webhook-url URL]``."""

from __future__ import annotations

import argparse
import asyncio

import uvicorn

from .app import EmailSandbox, EmailSandboxConfig, create_app, start_smtp


async def _main(args: argparse.Namespace) -> None:
    sandbox = EmailSandbox(EmailSandboxConfig(webhook_url=args.webhook_url))
    smtp = await start_smtp(sandbox, args.host, args.smtp_port)
    print(
        f"tridium-email-sandbox (SIMULATED): SMTP {args.host}:{args.smtp_port}, controls http://{args.host}:{args.port}",
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(create_app(sandbox), host=args.host, port=args.port, log_level="warning"))
    try:
        await server.serve()
    finally:
        smtp.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated e-mail provider (SMTP + Mailgun inbound)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--port", type=int, default=8094)
    parser.add_argument("--webhook-url", default=None)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
