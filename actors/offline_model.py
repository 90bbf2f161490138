"""The offline grounded model: an agno ``Model`` that needs no keys and invents nothing.

It reads the conversation agno hands it, asks the agent's planner what to do next (which
tool, by intent; or what to say), and either returns tool calls or streams an answer that
the planner composed only from retrieved sources and tool results, with citations. Every
run record names it (``MODEL_NAME``). Token counts are estimates (characters / 4).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from agno.metrics import MessageMetrics
from agno.models.base import Model
from agno.models.message import Message
from agno.models.response import ModelResponse

from .planning import MODEL_NAME, Plan, ToolOutcome, Turn

Planner = Callable[[Turn], Plan]


def _text(content: Any) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else json.dumps(content, default=str)


def turn_from_messages(messages: list[Message], base: Turn) -> Turn:
    """The planner's view: the last user message, the history before it, this run's tool results."""
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    history = [
        (m.role, _text(m.content)) for m in messages[:last_user] if m.role in ("user", "assistant") and m.content
    ]
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    outcomes: list[ToolOutcome] = []
    for m in messages[last_user + 1 :]:
        for tc in m.tool_calls or []:
            fn = tc.get("function", {})
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            calls[tc.get("id", "")] = (fn.get("name", ""), args)
        if m.role == "tool":
            name, args = calls.get(m.tool_call_id or "", (m.tool_name or "", {}))
            try:
                result = json.loads(_text(m.content))
            except ValueError:
                result = {"summary": _text(m.content)}
            outcomes.append(ToolOutcome(name, args, result if isinstance(result, dict) else {"value": result}))
    user_input = _text(messages[last_user].content) if last_user >= 0 else ""
    return Turn(
        agent=base.agent,
        user_input=user_input,
        context=base.context,
        history=history,
        outcomes=outcomes,
        allowed=base.allowed,
        guardrails=base.guardrails,
    )


def _chunks(text: str) -> list[str]:
    return re.findall(r"\S+\s*|\s+", text)


@dataclass
class OfflineGroundedModel(Model):
    id: str = MODEL_NAME
    name: str = "OfflineGroundedModel"
    provider: str = "tridium"
    planner: Planner | None = None
    base_turn: Turn | None = None
    stream_delay_s: float = 0.0
    _calls: int = field(default=0, repr=False)

    def _plan(self, messages: list[Message]) -> Plan:
        assert self.planner is not None and self.base_turn is not None
        return self.planner(turn_from_messages(messages, self.base_turn))

    @staticmethod
    def _usage(messages: list[Message], out: str) -> MessageMetrics:
        tokens_in = sum(len(_text(m.content)) for m in messages) // 4
        tokens_out = len(out) // 4
        return MessageMetrics(input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out)

    @staticmethod
    def _tool_calls(plan: Plan) -> list[dict[str, Any]]:
        return [
            {"id": f"call_{uuid4().hex[:12]}", "type": "function", "function": {"name": n, "arguments": json.dumps(a)}}
            for n, a in plan.calls
        ]

    def invoke(self, messages: list[Message], assistant_message: Message, *args: Any, **kwargs: Any) -> ModelResponse:
        plan = self._plan(messages)
        if plan.calls:
            return ModelResponse(role="assistant", tool_calls=self._tool_calls(plan))
        text = plan.text or ""
        return ModelResponse(role="assistant", content=text, response_usage=self._usage(messages, text))

    async def ainvoke(
        self, messages: list[Message], assistant_message: Message, *args: Any, **kwargs: Any
    ) -> ModelResponse:
        return self.invoke(messages, assistant_message)

    def invoke_stream(
        self, messages: list[Message], assistant_message: Message, *args: Any, **kwargs: Any
    ) -> Iterator[ModelResponse]:
        yield self.invoke(messages, assistant_message)

    async def ainvoke_stream(
        self, messages: list[Message], assistant_message: Message, *args: Any, **kwargs: Any
    ) -> AsyncIterator[ModelResponse]:
        plan = self._plan(messages)
        if plan.calls:
            yield ModelResponse(role="assistant", tool_calls=self._tool_calls(plan))
            return
        text = plan.text or ""
        for i, piece in enumerate(_chunks(text)):
            if self.stream_delay_s and i:
                await asyncio.sleep(self.stream_delay_s)
            yield ModelResponse(role="assistant", content=piece)
        yield ModelResponse(response_usage=self._usage(messages, text))

    def _parse_provider_response(self, response: Any, **kwargs: Any) -> ModelResponse:
        assert isinstance(response, ModelResponse)
        return response

    def _parse_provider_response_delta(self, response: Any) -> ModelResponse:
        assert isinstance(response, ModelResponse)
        return response


__all__ = ["MODEL_NAME", "OfflineGroundedModel", "Planner", "turn_from_messages"]
