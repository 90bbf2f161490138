"""A local, simulated WhatsApp Business Cloud API server (NOT Meta): see ``app``."""

from .app import SANDBOX_NAME, Account, Sandbox, SandboxState, create_app, meta_error
from .server import RunningWhatsAppSandbox, running_sandbox, serve

__all__ = [
    "SANDBOX_NAME",
    "Account",
    "RunningWhatsAppSandbox",
    "Sandbox",
    "SandboxState",
    "create_app",
    "meta_error",
    "running_sandbox",
    "serve",
]
