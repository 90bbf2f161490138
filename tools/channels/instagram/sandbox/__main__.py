"""``python -m tools.channels.instagram.sandbox [--port 8093] [--webhook-url URL]``."""

from __future__ import annotations

import argparse

import uvicorn

from .app import InstagramSandboxConfig, create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated Instagram messaging API (sandbox)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    parser.add_argument("--webhook-url", default=None, help="where signed webhooks are POSTed")
    args = parser.parse_args()
    app = create_app(InstagramSandboxConfig(webhook_url=args.webhook_url))
    print(f"tridium-instagram-sandbox (SIMULATED) on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", server_header=False)


if __name__ == "__main__":
    main()
