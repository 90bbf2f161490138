"""``python -m tools.asaas.sandbox --port 8090``: run the simulated Asaas server."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from .config import DEFAULT_ACCESS_TOKEN, SandboxConfig
from .server import serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools.asaas.sandbox",
        description="Tridium Asaas SANDBOX: a local simulator of the Asaas v3 API (not Asaas).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--access-token", default=DEFAULT_ACCESS_TOKEN)
    parser.add_argument("--public-url", default=None, help="base of invoiceUrl/bankSlipUrl")
    parser.add_argument("--state", type=Path, default=None, help="JSON file to keep state in")
    parser.add_argument("--time-scale", type=float, default=1.0, help="webhook penalty factor")
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    config = SandboxConfig(
        access_token=args.access_token,
        public_url=args.public_url or f"http://{args.host}:{args.port}",
        state_path=args.state,
        time_scale=args.time_scale,
        duplicate_rate=args.duplicate_rate,
        seed=args.seed,
    )
    asyncio.run(serve(args.port, host=args.host, config=config, log_level=args.log_level))


if __name__ == "__main__":
    main()
