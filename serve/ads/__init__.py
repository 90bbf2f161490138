"""Ads on the gateway: the process's ``AdsDeps`` (SecretBox + the three ad connectors over
one HTTP client, built in the lifespan) and the request/response models of
``serve/routers/ads.py``."""

from .wiring import ads_deps, build_ads

__all__ = ["ads_deps", "build_ads"]
