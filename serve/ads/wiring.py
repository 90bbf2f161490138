"""What every process that touches ad platforms builds the same way."""

from __future__ import annotations

import httpx
from fastapi import Request

from tools.ads.accounts import AdsDeps, build_registry
from tools.inbox import SecretBox

from ..state import AppState


def build_ads(http: httpx.AsyncClient, box: SecretBox) -> AdsDeps:
    """Ad accounts share the channel accounts' SecretBox (one key ring per deployment)."""
    return AdsDeps(box, build_registry(http))


def ads_deps(request: Request, state: AppState) -> AdsDeps:
    """The gateway's AdsDeps (its lifespan builds it; this covers apps built without it)."""
    deps: AdsDeps | None = getattr(request.app.state, "ads", None)
    if deps is None:
        box: SecretBox | None = getattr(request.app.state, "inbox_box", None)
        http: httpx.AsyncClient | None = getattr(request.app.state, "ads_http", None)
        if http is None:
            http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0))
            request.app.state.ads_http = http
        deps = build_ads(http, box or SecretBox(state.settings.channel_secrets_key))
        request.app.state.ads = deps
    return deps


__all__ = ["ads_deps", "build_ads"]
