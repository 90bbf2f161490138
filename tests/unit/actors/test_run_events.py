"""A run's event writer (write-behind, in order, batched) without Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest

from actors.events import RunEventBuffer, RunEventWriter


class FakeBuffer:
    """Records each append_many call (one Redis round trip); can fail or stall."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None
        self.gate = asyncio.Event()
        self.gate.set()

    async def append_many(
        self, tenant_id: uuid.UUID, run_id: uuid.UUID, events: Sequence[tuple[str, str]]
    ) -> list[str]:
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.calls.append([e for e, _ in events])
        n = sum(len(c) for c in self.calls)
        return [f"{run_id}:1-{i}" for i in range(n - len(events), n)]


def writer(fake: FakeBuffer) -> RunEventWriter:
    return RunEventWriter(cast(RunEventBuffer, fake), uuid.uuid4(), uuid.uuid4())


async def test_events_are_written_in_order_and_a_burst_goes_in_one_round_trip() -> None:
    fake = FakeBuffer()
    w = writer(fake)
    fake.gate.clear()  # the first write is in flight while the run emits three more
    w.emit("run.started", {"n": 0})
    await asyncio.sleep(0)
    for i, name in enumerate(("tool.call", "tool.result", "sources"), start=1):
        w.emit(name, {"n": i})
    fake.gate.set()
    await w.flush()
    assert fake.calls == [["run.started"], ["tool.call", "tool.result", "sources"]]
    assert w.last_id is not None and w.last_id.endswith(":1-3")


async def test_data_is_encoded_when_emitted() -> None:
    seen: list[str] = []

    class Capture(FakeBuffer):
        async def append_many(self, tenant_id: Any, run_id: Any, events: Sequence[tuple[str, str]]) -> list[str]:
            seen.extend(d for _, d in events)
            return await super().append_many(tenant_id, run_id, events)

    w = writer(Capture())
    data = {"text": "a"}
    w.emit("delta", data)
    data["text"] = "changed later"
    await w.flush()
    assert json.loads(seen[0]) == {"text": "a"}


async def test_a_failed_write_fails_the_next_emit_and_flush_and_nothing_after_it_is_written() -> None:
    fake = FakeBuffer()
    fake.fail = ConnectionError("redis down")
    w = writer(fake)
    w.emit("run.started", {})
    with pytest.raises(ConnectionError):
        await w.flush()
    with pytest.raises(ConnectionError):
        w.emit("delta", {"text": "x"})
    fake.fail = None
    with pytest.raises(ConnectionError):
        await w.flush()
    assert fake.calls == []


def test_plain_per_character_equals_nfkd_over_the_whole_text() -> None:
    import unicodedata

    from actors.guardrails import _plain

    def reference(text: str) -> str:
        nfkd = unicodedata.normalize("NFKD", text.lower())
        return "".join(c for c in nfkd if not unicodedata.combining(c))

    samples = [
        "Política de Cancelamento: reembolso até 7 dias — R$ 1.200,00 à vista",
        "ÁÉÍÓÚ ãõ ç Ç ñ ü ß ﬁ ½ ² ℃ Ⅻ 한국어 日本語 ǅ e\u0301\u0323 a\u0323\u0301 😀",
        "plain ascii only",
        "".join(chr(cp) for cp in range(0x80, 0x3000, 7)),
    ]
    for text in samples:
        assert _plain(text) == reference(text)
