"""A local, simulated Meta Marketing API + Conversions API (``meta-ads-sandbox``). NOT Meta.

(Full notes on what was verified and what was assumed: filled in below.)
"""

from .app import DEDUPE_WINDOW_S, SANDBOX_NAME, Account, AdsObject, GraphError, Sandbox, SandboxState, create_app
from .server import DEFAULT_PORT, RunningMetaAdsSandbox, running_sandbox, serve

__all__ = [
    "DEDUPE_WINDOW_S",
    "DEFAULT_PORT",
    "SANDBOX_NAME",
    "Account",
    "AdsObject",
    "GraphError",
    "RunningMetaAdsSandbox",
    "Sandbox",
    "SandboxState",
    "create_app",
    "running_sandbox",
    "serve",
]
