"""``python -m tools.ads.meta.sandbox --port 8095``: the simulated Meta Marketing + Conversions API."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from .server import DEFAULT_PORT, serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools.ads.meta.sandbox",
        description="Tridium Meta Marketing API + Conversions API SANDBOX: a local simulator (not Meta).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(serve(args.port, host=args.host, log_level=args.log_level))


if __name__ == "__main__":
    main()
