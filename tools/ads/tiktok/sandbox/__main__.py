"""``python -m tools.ads.tiktok.sandbox --port 8097``: run the simulated TikTok Marketing API."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from .server import serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools.ads.tiktok.sandbox",
        description="Tridium TikTok SANDBOX: a local simulator of the TikTok Marketing API v1.3 (not TikTok).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8097)
    parser.add_argument("--seed", type=int, default=0, help="seed of /sandbox/simulate")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args.port, host=args.host, seed=args.seed, log_level=args.log_level))


if __name__ == "__main__":
    main()
