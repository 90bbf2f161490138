"""``python -m tools.ads.google.sandbox --port 8096``: the simulated Google Ads API server."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from .server import serve


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="tools.ads.google.sandbox",
        description="Tridium Google Ads SANDBOX: a local simulator of the Google Ads API REST interface (not Google).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8096)
    parser.add_argument("--seed", type=int, default=0, help="seed of /sandbox/simulate")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, host=args.host, seed=args.seed, log_level=args.log_level))


if __name__ == "__main__":
    main()
