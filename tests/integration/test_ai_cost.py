"""AI cost end to end on the OpenAI-compatible path (a real local chat-completions server
that reports usage only when asked, as OpenAI does): streamed usage → tokens of the run →
cost from the versioned price table → cost per day; monthly budget with the 80 % event
(once), the 402 refusal at 100 % and the offline fallback; GenAI spans."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from core.settings import Settings
from core.tenancy import TenantId
from db.pool import tenant_tx

from ..agents_support import OPENAI_MARKER, OpenAIScript, OpenAIServer, parse_sse, scripted_completion
from .conftest import MakeMember, Member, client_for, running_app

# USD per 1M tokens. "future" must never price a run today; "old" priced runs before June.
PRICES = {
    "versions": [
        {"version": "old", "effective_from": "2025-01-01", "models": {"test-model": {"input": 1, "output": 1}}},
        {"version": "2026-06", "effective_from": "2026-06-01", "models": {"test-model": {"input": 300, "output": 900}}},
        {"version": "future", "effective_from": "2099-01-01", "models": {"test-model": {"input": 0, "output": 0}}},
    ]
}


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIServer]:
    with OpenAIServer(OpenAIScript(scripted_completion)) as server:
        yield server


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture(scope="module")
async def cost_client(
    settings: Settings, llm: OpenAIServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[httpx.AsyncClient]:
    table = Path(tmp_path_factory.mktemp("prices")) / "prices.json"
    table.write_text(json.dumps(PRICES), encoding="utf-8")
    s = settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "llm_api_key": SecretStr(llm.api_key),
            "llm_model": "test-model",
            "agent_model_default": "openai",
            "ai_price_table": str(table),
        }
    )
    async for app in running_app(s):
        async with client_for(app) as c:
            yield c


async def _run(c: httpx.AsyncClient, m: Member, text: str = "oi, tudo bem?") -> httpx.Response:
    return await c.post("/agents/run", json={"agent": "luddy", "input": text}, headers=m.headers())


async def _done(c: httpx.AsyncClient, m: Member, text: str = "oi, tudo bem?") -> dict[str, object]:
    r = await _run(c, m, text)
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events[-1].event == "run.completed", events[-1]
    return dict(events[-1].data)


async def test_streamed_usage_prices_the_run_and_the_day(
    cost_client: httpx.AsyncClient, llm: OpenAIServer, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    before = len(llm.script.requests)
    done = await _done(cost_client, m)
    sent = llm.script.requests[before:]
    assert sent and all(req["stream"] and req["stream_options"] == {"include_usage": True} for req in sent)
    usage = llm.script.usages[before:]
    tokens_in = sum(u["prompt_tokens"] for u in usage)
    tokens_out = sum(u["completion_tokens"] for u in usage)
    assert done["usage"] == {"tokens_in": tokens_in, "tokens_out": tokens_out} and tokens_in > 0
    expected = (tokens_in * 300 + tokens_out * 900) / 1_000_000
    assert done["cost"] == pytest.approx(expected)
    async with tenant_tx(app_pool, TenantId(m.tenant_id)) as conn:
        row = await conn.fetchrow(
            "select cost, price_version, tokens_in from agent_runs where tenant_id = $1 and id = $2",
            m.tenant_id,
            done["run_id"],
        )
    assert row is not None and row["price_version"] == "2026-06" and float(row["cost"]) == pytest.approx(expected)

    today = datetime.now(UTC).date().isoformat()
    r = await cost_client.get("/metrics/ai-cost", params={"from": today, "to": today}, headers=m.headers())
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["from"] == today and report["currency"] == "USD"
    (day,) = report["days"]
    assert day["runs"] == 1 and day["tokens_in"] == tokens_in and day["price_versions"] == ["2026-06"]
    assert day["cost_usd"] == pytest.approx(expected) and report["total_usd"] == pytest.approx(expected)
    # Another tenant sees only its own (nothing); members may not read costs; bad ranges are 422.
    other = await make_member()
    theirs = (await cost_client.get("/metrics/ai-cost", params={"from": today}, headers=other.headers())).json()
    assert theirs["total_runs"] == 0 and theirs["total_usd"] == 0
    r = await cost_client.get(
        "/metrics/ai-cost", params={"from": "2026-02-01", "to": "2026-01-01"}, headers=m.headers()
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_failed"
    member = await make_member(role="member")
    assert (await cost_client.get("/metrics/ai-cost", headers=member.headers())).status_code == 403


async def test_budget_warns_once_at_80_refuses_at_100_and_can_fall_back_offline(
    cost_client: httpx.AsyncClient, make_member: MakeMember, app_pool: asyncpg.Pool
) -> None:
    m = await make_member()
    first = await _done(cost_client, m)  # every run of this script costs the same
    cost = float(str(first["cost"]))
    assert cost > 0
    r = await cost_client.put("/admin/ai-budget", json={"monthly_limit_usd": 2.2 * cost}, headers=m.headers())
    assert r.status_code == 200, r.text
    assert r.json()["on_exceed"] == "refuse" and r.json()["spent_usd"] == pytest.approx(cost)

    async def threshold_events() -> list[asyncpg.Record]:
        async with tenant_tx(app_pool, TenantId(m.tenant_id)) as conn:
            return list(
                await conn.fetch(
                    "select payload from event_log where tenant_id = $1 and type = 'ai.budget.threshold_reached'",
                    m.tenant_id,
                )
            )

    assert await threshold_events() == []  # 45 %
    await _done(cost_client, m)  # 91 %: the event
    await _done(cost_client, m)  # 136 %: started under 100 %, finishes; no second event
    (event,) = await threshold_events()
    assert event["payload"]["threshold"] == 0.8 and event["payload"]["spent_usd"] == pytest.approx(2 * cost)
    refused = await _run(cost_client, m)
    assert refused.status_code == 402, refused.text
    err = refused.json()["error"]
    assert err["code"] == "ai_budget_exceeded" and err["details"]["spent_usd"] == pytest.approx(3 * cost)
    view = (await cost_client.get("/admin/ai-budget", headers=m.headers())).json()
    assert view["used_ratio"] > 1 and view["warned_at_80"] is True

    r = await cost_client.put(
        "/admin/ai-budget", json={"monthly_limit_usd": 2.2 * cost, "on_exceed": "offline"}, headers=m.headers()
    )
    assert r.status_code == 200
    fallback = await _done(cost_client, m)
    assert fallback["model"] == "offline-grounded-v1" and fallback["cost"] == 0
    assert len(await threshold_events()) == 1
    # A higher limit re-arms the event: 3 runs of 4.4 are 68 %, the fourth makes 91 %.
    r = await cost_client.put("/admin/ai-budget", json={"monthly_limit_usd": 4.4 * cost}, headers=m.headers())
    assert r.json()["warned_at_80"] is False
    await _done(cost_client, m)
    assert len(await threshold_events()) == 2


async def test_budget_route_is_admin_only_and_validated(
    cost_client: httpx.AsyncClient, make_member: MakeMember
) -> None:
    owner = await make_member()
    for body in ({"monthly_limit_usd": -1}, {"monthly_limit_usd": 5, "on_exceed": "ignore"}, {"limit": 5}):
        r = await cost_client.put("/admin/ai-budget", json=body, headers=owner.headers())
        assert r.status_code == 422, (body, r.text)
    member = await make_member(role="member")
    r = await cost_client.put("/admin/ai-budget", json={"monthly_limit_usd": 5}, headers=member.headers())
    assert r.status_code == 403
    view = (await cost_client.get("/admin/ai-budget", headers=owner.headers())).json()
    assert view["monthly_limit_usd"] is None and view["spent_usd"] == 0
    # One tenant's budget is not another's.
    assert (
        await cost_client.put("/admin/ai-budget", json={"monthly_limit_usd": 0}, headers=owner.headers())
    ).is_success
    other = await make_member()
    assert (await cost_client.get("/admin/ai-budget", headers=other.headers())).json()["monthly_limit_usd"] is None
    assert (await _run(cost_client, other)).status_code == 200
    assert (await _run(cost_client, owner)).status_code == 402  # a 0 budget allows no paid runs


async def test_model_and_tool_calls_carry_genai_span_attributes(
    cost_client: httpx.AsyncClient, make_member: MakeMember, spans: InMemorySpanExporter
) -> None:
    m = await make_member()
    spans.clear()
    done = await _done(cost_client, m, f"{OPENAI_MARKER} tem cupom?")  # the script calls two tools
    by_op: dict[str, list[dict[str, object]]] = {}
    for s in spans.get_finished_spans():
        attrs = dict(s.attributes or {})
        if "gen_ai.operation.name" in attrs:
            by_op.setdefault(str(attrs["gen_ai.operation.name"]), []).append({"name": s.name, **attrs})
    (agent,) = by_op["invoke_agent"]
    assert agent["name"] == "invoke_agent luddy" and agent["gen_ai.request.model"] == "test-model"
    assert agent["gen_ai.conversation.id"] == done["thread_id"]
    usage = done["usage"]
    assert isinstance(usage, dict)
    assert agent["gen_ai.usage.input_tokens"] == usage["tokens_in"]
    assert agent["gen_ai.usage.output_tokens"] == usage["tokens_out"]
    chats = by_op["chat"]
    assert all(c["name"] == "chat test-model" and c["gen_ai.provider.name"] == "openai" for c in chats)
    assert sum(int(str(c["gen_ai.usage.input_tokens"])) for c in chats) == usage["tokens_in"]
    assert len(chats) == 2  # tool calls, then the answer
    tools = {str(t["gen_ai.tool.name"]) for t in by_op["execute_tool"]}
    assert "kb_search" in tools
    assert all(t["name"] == f"execute_tool {t['gen_ai.tool.name']}" for t in by_op["execute_tool"])
