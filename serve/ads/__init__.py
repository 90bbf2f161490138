"""Ads on the Serve side: the process's ``AdsDeps`` (SecretBox + the three ad connectors over
one HTTP client, built in the lifespan) and the request/response models of
``serve/routers/ads.py``; the ``AdsSync`` (``sync_runtime``) and ``AdsWorker``
(``worker_runtime``) Serve deployments."""

from .wiring import ads_deps, build_ads

__all__ = ["ads_deps", "build_ads"]
