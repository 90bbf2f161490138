"""The agent actors' knowledge search (``knowledge.remote.ModelServedSearcher``): the hybrid
search SQL in the actor, the query embedding from the shared Redis cache or, on a miss, from
the Searcher deployment's model.

The Serve handle is replaced by one whose calls run in this process (Ray is not started
here); it runs the same code as ``serve.knowledge_deployments.SearcherDeployment``'s
``embedding_model``/``embed_queries`` over the gateway's real model. The cluster tests
cover the real handle (Luddy answers with sources under Ray)."""

from __future__ import annotations

from array import array
from typing import Any

import httpx
from fastapi import FastAPI

from core.tenancy import TenantId
from knowledge.remote import ModelServedSearcher, SearcherQueryEmbedder

from ..agents_support import load_kb_demo
from .conftest import MakeMember, client_for

QUESTION = "Tem algum cupom de desconto pra personal esse mês?"


class _Method:
    def __init__(self, fn: Any) -> None:
        self._fn = fn

    async def remote(self, *args: Any) -> Any:
        return await self._fn(*args)


class InProcessSearcherHandle:
    """``embedding_model`` and ``embed_queries`` as the Searcher deployment answers them."""

    def __init__(self, embedder: Any) -> None:
        self._embedder = embedder
        self.embedded: list[list[str]] = []
        self.embedding_model = _Method(self._info)
        self.embed_queries = _Method(self._embed)

    async def _info(self) -> dict[str, Any]:
        e = self._embedder
        return {"model": e.model_name, "dim": e.dim, "max_tokens": e.max_tokens}

    async def _embed(self, queries: list[str]) -> bytes:
        self.embedded.append(list(queries))
        vectors = await self._embedder.embed(queries)
        return b"".join(array("f", v).tobytes() for v in vectors)


async def _local_knowledge(app: FastAPI, client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    await client.get("/rag/spaces", headers=headers)  # builds the gateway's knowledge runtime
    return app.state.knowledge


async def test_actor_search_matches_the_searcher_and_skips_the_model_for_cached_queries(
    app: FastAPI, make_member: MakeMember, settings: Any, app_pool: Any, redis_client: Any
) -> None:
    a, b = await make_member(), await make_member()
    async with client_for(app) as client:
        await load_kb_demo(client, a.headers(), files=["promocoes-do-mes.md", "politicas.txt"])
        knowledge = await _local_knowledge(app, client, a.headers())
    handle = InProcessSearcherHandle(knowledge._embedder)
    actor_search = ModelServedSearcher(settings, app_pool, redis_client, SearcherQueryEmbedder(handle))
    question = f"{QUESTION} ({a.slug})"  # a query no other test cached

    expected = await knowledge.searcher.search(TenantId(a.tenant_id), question, 4, None)  # caches the embedding
    got = await actor_search(TenantId(a.tenant_id), question, 4, None)
    assert expected and [r.as_dict() for r in got] == [r.as_dict() for r in expected]
    assert handle.embedded == []  # cached by the Searcher's search: no model call

    fresh = f"Qual o preço do plano anual? ({a.slug})"
    first = await actor_search(TenantId(a.tenant_id), fresh, 4, None)
    again = await actor_search(TenantId(a.tenant_id), fresh, 4, None)
    assert handle.embedded == [[fresh]]  # one model call; the second search hit the cache
    assert [r.as_dict() for r in again] == [r.as_dict() for r in first]
    assert [r.as_dict() for r in first] == [
        r.as_dict() for r in await knowledge.searcher.search(TenantId(a.tenant_id), fresh, 4, None)
    ]

    # Tenant isolation: the same query from another tenant finds none of the first one's chunks.
    assert await actor_search(TenantId(b.tenant_id), question, 4, None) == []


async def test_actor_search_reports_an_unreachable_searcher_as_unavailable(
    settings: Any, app_pool: Any, redis_client: Any, make_member: MakeMember
) -> None:
    import pytest

    from core.errors import DependencyUnavailable

    def gone() -> Any:
        raise RuntimeError("Searcher deployment not found")

    m = await make_member()
    search = ModelServedSearcher(settings, app_pool, redis_client, SearcherQueryEmbedder(handle_factory=gone))
    with pytest.raises(DependencyUnavailable) as err:
        await search(TenantId(m.tenant_id), "qualquer coisa", 4, None)
    assert err.value.message == "knowledge search is unavailable"
