"""A local, simulated Instagram messaging server for tests and ``make run`` (see ``app``)."""

from .app import SANDBOX_NAME, InstagramSandbox, InstagramSandboxConfig, create_app

__all__ = ["SANDBOX_NAME", "InstagramSandbox", "InstagramSandboxConfig", "create_app"]
