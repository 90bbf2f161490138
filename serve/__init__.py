"""Serve: the gateway app, its middleware and routers, and the Ray Serve deployments."""
