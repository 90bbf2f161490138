"""Prometheus metrics (prometheus-client), scraped at ``/metrics``.

The alert rules in ``ops/prometheus/alerts.yml`` are written against these names (and
tested with ``promtool test rules``): rename one here and tests/unit/test_alert_rules.py
fails. Stream gauges are read from Redis at scrape time, so they are true for the whole
cluster whichever gateway replica answers the scrape.
"""

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

        self.webhook_deliveries = Counter(
            "tridium_webhook_deliveries_total",
            "Webhook deliveries accepted, by provider and outcome (stored: first delivery; "
            "duplicate: the provider re-sent an event we already hold, i.e. a retry)",
            ["provider", "outcome"],
            registry=self.registry,
        )
        self.rag_search = Histogram(
            "tridium_rag_search_duration_seconds",
            "Hybrid RAG search latency (embedding + vector + full-text + fusion), by k",
            ["k"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5),
        )
        self.stream_lag = Gauge(
            "tridium_stream_lag_seconds",
            "Age of the oldest event a consumer group has not finished (pending or not yet read)",
            ["stream", "group"],
            registry=self.registry,
        )
        self.stream_pending = Gauge(
            "tridium_stream_pending",
            "Entries delivered to a consumer group and not yet acknowledged",
            ["stream", "group"],
            registry=self.registry,
        )
        self.dead_letters = Gauge(
            "tridium_stream_dead_letters",
            "Entries in a consumer group's dead-letter stream (poison or over-delivered events)",
            ["stream", "group"],
            registry=self.registry,
        )

    def count_webhook(self, provider: str, *, stored: int, duplicates: int) -> None:
        """Deliveries of a batch webhook (one HTTP call may carry several items)."""
        if stored:
            self.webhook_deliveries.labels(provider, "stored").inc(stored)
        if duplicates:
            self.webhook_deliveries.labels(provider, "duplicate").inc(duplicates)


__all__ = ["GatewayMetrics"]
