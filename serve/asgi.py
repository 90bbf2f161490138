"""Plain-ASGI entry point: the same gateway app without Ray Serve.

``uvicorn --factory serve.asgi:create_app`` — used by the gateway benchmark as the
baseline and handy for debugging. ``/health`` then reports ``ray`` as not attached.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.settings import Settings

from .app import build_fastapi


def create_app() -> FastAPI:
    return build_fastapi(Settings())
