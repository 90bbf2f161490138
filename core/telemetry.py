"""OpenTelemetry tracing, set up once per process.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, spans go to an OTLP/HTTP collector; otherwise the
API's no-op tracer is used and tracing costs nothing.
"""

from __future__ import annotations

import logging

from opentelemetry import trace

log = logging.getLogger(__name__)
_configured = False


def setup_tracing(service_name: str, endpoint: str | None) -> None:
    global _configured
    if _configured or not endpoint:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    _configured = True
    log.info("tracing enabled", extra={"endpoint": endpoint})


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


__all__ = ["setup_tracing", "tracer"]
