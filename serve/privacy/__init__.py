"""How the gateway runs LGPD requests: a Ray task under the platform, an asyncio task in
plain uvicorn (integration tests). The work itself is ``tools.privacy.run_request``."""

from .runtime import dispatch_request

__all__ = ["dispatch_request"]
