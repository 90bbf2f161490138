"""Prometheus metrics (prometheus-client), scraped at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class GatewayMetrics:
    """One registry per app instance, so tests and benchmarks can build several apps."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            "tridium_http_request_duration_seconds",
            "HTTP request latency by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "tridium_http_errors_total",
            "HTTP responses with status >= 400 by route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "tridium_rate_limited_total", "Requests answered 429", ["policy"], registry=self.registry
        )
        self.pool_size = Gauge("tridium_db_pool_size", "asyncpg pool connections", registry=self.registry)
        self.pool_idle = Gauge("tridium_db_pool_idle", "asyncpg pool idle connections", registry=self.registry)
        self.pool_max = Gauge("tridium_db_pool_max", "asyncpg pool max size", registry=self.registry)
        self.outbox_lag = Gauge(
            "tridium_outbox_lag_seconds", "Age of the oldest unpublished event", registry=self.registry
        )
        self.outbox_published = Gauge(
            "tridium_outbox_published_total", "Events published by the relay since it started", registry=self.registry
        )


__all__ = ["GatewayMetrics"]
