"""The OpenAI-compatible path in-process, against a real local server speaking the
chat-completions protocol (streaming chunks, tool calls split across deltas, usage)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from actors.guardrails import UNGROUNDED_POLICY
from core.settings import Settings

from ..agents_support import OPENAI_MARKER, OpenAIScript, OpenAIServer, load_kb_demo, parse_sse, scripted_completion
from .conftest import MakeMember, client_for, running_app


@pytest.fixture(scope="module")
def llm() -> OpenAIServer:
    with OpenAIServer(OpenAIScript(scripted_completion)) as server:
        yield server


@pytest.fixture(scope="module")
async def openai_client(settings: Settings, llm: OpenAIServer) -> AsyncIterator:
    s = settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "llm_api_key": SecretStr(llm.api_key),
            "llm_model": "test-model",
            "agent_model_default": "offline",
        }
    )
    async for app in running_app(s):
        async with client_for(app) as c:
            yield c


async def test_openai_protocol_path_streams_calls_allowed_tools_and_is_guarded(
    openai_client, llm: OpenAIServer, make_member: MakeMember, app_pool
) -> None:
    m = await make_member()
    await load_kb_demo(openai_client, m.headers(), ["promocoes-do-mes.md"])
    cfg = {"luddy": {"settings": {"model": "openai"}, "tools": ["kb_search"]}}
    assert (await openai_client.post("/agents/triad", json=cfg, headers=m.headers())).status_code == 200
    before = len(llm.script.requests)
    r = await openai_client.post(
        "/agents/run", json={"agent": "luddy", "input": f"{OPENAI_MARKER} tem cupom pra personal?"}, headers=m.headers()
    )
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    names = [e.event for e in events]
    assert names[0] == "run.started" and names[-1] == "run.completed", names
    calls = {e.data["name"]: e for e in events if e.event == "tool.call"}
    assert calls["kb_search"].data["args"] == {"query": "cupom personal MEXEMARCO"}
    results = {e.data["name"]: e.data["result"] for e in events if e.event == "tool.result"}
    assert results["kb_search"]["sources"], results
    # The model asked for a tool this tenant did not allow: it never ran.
    assert "handoff_to_human" not in results or "error" in str(results["handoff_to_human"])
    done = events[-1].data
    assert done["model"] == "openai-compatible:test-model"
    assert "MEXEMARCO" in done["output"] and "15%" in done["output"]
    # The invented price is cut; the invented discount is a policy the sources do not hold.
    assert "R$ 19,90" not in done["output"] and "sai por [valor não confirmado]" in done["output"]
    assert "90%" not in done["output"] and UNGROUNDED_POLICY in done["output"]
    assert done["guardrails"]["ungrounded_claims"] == ["R$ 19,90", "policy: Hoje também temos 90% de desconto."]
    assert done["usage"]["tokens_in"] >= 42 and done["usage"]["tokens_out"] >= 7
    sent = llm.script.requests[before:]
    assert len(sent) == 2 and all(req["stream"] for req in sent)
    assert [t["function"]["name"] for t in sent[0]["tools"]] == ["kb_search"]  # the model sees only allowed tools
    assert any(msg["role"] == "tool" for msg in sent[1]["messages"])
    threads = (await openai_client.get("/threads?limit=200", headers=m.headers())).json()["items"]
    assert next(t for t in threads if t["id"] == done["thread_id"])["status"] == "bot"  # 0007: open is now bot
