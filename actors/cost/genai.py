"""OpenTelemetry spans with the GenAI semantic conventions (status: Development), verified
against opentelemetry.io/docs/specs/semconv/gen-ai (gen-ai-spans, execute-tool):

- ``invoke_agent {agent}`` around a run: ``gen_ai.operation.name=invoke_agent``,
  ``gen_ai.agent.name``, ``gen_ai.conversation.id`` (the thread), ``gen_ai.request.model``,
  and the run's ``gen_ai.usage.input_tokens`` / ``gen_ai.usage.output_tokens``;
- ``chat {model}`` around each model call: ``gen_ai.operation.name=chat``,
  ``gen_ai.provider.name``, ``gen_ai.request.model``, usage of that call;
- ``execute_tool {tool}`` around each tool call: ``gen_ai.operation.name=execute_tool``,
  ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type=function``.

With no tracer provider configured (``core.telemetry``) these are no-op spans.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from core.telemetry import tracer

from ..offline_model import MODEL_NAME as OFFLINE_MODEL
from .pricing import model_id

_tracer = tracer("tridium.agents")


def provider_of(model_name: str) -> str:
    return "tridium.offline" if model_name == OFFLINE_MODEL else "openai"


@contextmanager
def agent_span(agent: str, model_name: str, thread_id: object) -> Iterator[trace.Span]:
    with _tracer.start_as_current_span(f"invoke_agent {agent}", kind=trace.SpanKind.INTERNAL) as span:
        span.set_attribute("gen_ai.operation.name", "invoke_agent")
        span.set_attribute("gen_ai.agent.name", agent)
        span.set_attribute("gen_ai.provider.name", provider_of(model_name))
        span.set_attribute("gen_ai.request.model", model_id(model_name))
        span.set_attribute("gen_ai.conversation.id", str(thread_id))
        yield span


def record_usage(span: trace.Span, tokens_in: int, tokens_out: int) -> None:
    span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
    span.set_attribute("gen_ai.usage.output_tokens", tokens_out)


@contextmanager
def tool_span(name: str, call_id: str | None = None) -> Iterator[trace.Span]:
    with _tracer.start_as_current_span(f"execute_tool {name}", kind=trace.SpanKind.INTERNAL) as span:
        span.set_attribute("gen_ai.operation.name", "execute_tool")
        span.set_attribute("gen_ai.tool.name", name)
        span.set_attribute("gen_ai.tool.type", "function")
        if call_id:
            span.set_attribute("gen_ai.tool.call.id", call_id)
        yield span


def trace_model_calls(model: Any, model_name: str) -> Any:
    """Wrap an agno model's ``ainvoke_stream`` so each model call is a ``chat`` span that
    carries the usage the provider streamed back (OpenAI: ``stream_options.include_usage``)."""
    original: Callable[..., AsyncIterator[Any]] = model.ainvoke_stream
    provider, request_model = provider_of(model_name), model_id(model_name)

    async def ainvoke_stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        with _tracer.start_as_current_span(f"chat {request_model}", kind=trace.SpanKind.CLIENT) as span:
            span.set_attribute("gen_ai.operation.name", "chat")
            span.set_attribute("gen_ai.provider.name", provider)
            span.set_attribute("gen_ai.request.model", request_model)
            tokens_in = tokens_out = 0
            async for response in original(*args, **kwargs):
                usage = getattr(response, "response_usage", None)
                if usage is not None:
                    tokens_in += int(getattr(usage, "input_tokens", 0) or 0)
                    tokens_out += int(getattr(usage, "output_tokens", 0) or 0)
                yield response
            record_usage(span, tokens_in, tokens_out)

    object.__setattr__(model, "ainvoke_stream", ainvoke_stream)
    return model


__all__ = ["agent_span", "provider_of", "record_usage", "tool_span", "trace_model_calls"]
