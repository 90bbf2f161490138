"""The LGPD registry stays complete as the schema grows (tools/privacy/registry.py).

Read from the catalog, never from a list in this file: a new tenant table, a new text/JSON
column on a registered table, or a lead/thread/contact reference on a table declared
"not personal" fails here until someone decides what an erase does with it.
"""

from __future__ import annotations

import asyncpg
import pytest

from tools.privacy import NOT_PERSONAL, REFERENCE_COLUMN, REGISTRY, resolve
from tools.privacy.identifiers import Subject
from tools.privacy.service import _compile

from .test_rls_catalog import tenant_tables

# bytea too: stored response bytes or files can carry a person as well as text can.
TEXTUAL = ("text", "character varying", "character", "jsonb", "json", "ARRAY", "tsvector", "bytea")
HOW = (
    "decide what an LGPD erase does with it in tools/privacy/registry.py (REGISTRY entry with "
    "linked/text/set/reviewed, or NOT_PERSONAL with a reason) and document it in docs/privacy.md"
)


async def _columns(conn: asyncpg.Connection) -> dict[str, dict[str, str]]:
    rows = await conn.fetch(
        """select table_name, column_name, data_type from information_schema.columns
           where table_schema = 'public' order by table_name, ordinal_position"""
    )
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r["table_name"], {})[r["column_name"]] = r["data_type"]
    return out


@pytest.fixture(scope="module")
async def catalog(owner_pool: asyncpg.Pool) -> tuple[list[str], dict[str, dict[str, str]]]:
    async with owner_pool.acquire() as conn:
        return await tenant_tables(conn), await _columns(conn)


async def test_every_tenant_table_is_classified(catalog: tuple[list[str], dict[str, dict[str, str]]]) -> None:
    tables, _ = catalog
    registered = {t.table for t in REGISTRY}
    declared = {t.table for t in NOT_PERSONAL}
    assert not registered & declared, f"both registered and 'not personal': {sorted(registered & declared)}"
    missing = sorted(set(tables) - registered - declared)
    assert not missing, f"tenant tables unknown to the LGPD registry: {missing}; {HOW}"
    stale = sorted((registered | declared) - set(tables))
    assert not stale, f"the LGPD registry names tables that are gone: {stale}"


async def test_every_text_column_of_a_registered_table_is_classified(
    catalog: tuple[list[str], dict[str, dict[str, str]]],
) -> None:
    _, columns = catalog
    problems = []
    for entry in REGISTRY:
        cols = columns[entry.table]
        classified = set(entry.text) | set(entry.set) | set(entry.reviewed)
        unknown = sorted(set(classified) - set(cols))
        if unknown:
            problems.append(f"{entry.table}: registry names missing columns {unknown}")
        textual = {c for c, t in cols.items() if t in TEXTUAL}
        unclassified = sorted(textual - classified)
        if unclassified:
            problems.append(f"{entry.table}: text/JSON columns not classified {unclassified}")
        refs = {c for c in cols if REFERENCE_COLUMN.match(c)}
        unlinked = sorted(c for c in refs if c not in classified and c not in (entry.linked or ""))
        if unlinked:
            problems.append(f"{entry.table}: references {unlinked} neither used to find rows nor reviewed")
    assert not problems, "; ".join(problems) + f" — {HOW}"


async def test_tables_declared_not_personal_have_no_personal_columns(
    catalog: tuple[list[str], dict[str, dict[str, str]]],
) -> None:
    _, columns = catalog
    problems = []
    for entry in NOT_PERSONAL:
        cols = columns[entry.table]
        refs = sorted(c for c in cols if REFERENCE_COLUMN.match(c))
        if refs:
            problems.append(f"{entry.table} has {refs}: a table pointing at a lead/thread/contact must be registered")
        textual = {c for c, t in cols.items() if t in TEXTUAL}
        unreviewed = sorted(textual - set(entry.reviewed))
        if unreviewed:
            problems.append(f"{entry.table}: text/JSON columns not reviewed {unreviewed}")
    assert not problems, "; ".join(problems) + f" — {HOW}"


async def test_every_registry_query_runs(app_pool: asyncpg.Pool) -> None:
    """Each entry's SQL compiles against the real schema (a typo fails here, not in a request)."""
    import uuid

    from db.pool import tenant_tx
    from db.tenants import create_tenant

    tenant = await create_tenant(app_pool, f"priv-reg-{uuid.uuid4().hex[:8]}", "registry")
    subject = Subject.parse("a@example.com", "11987654321", "52998224725").with_names(["Ana Maria Braga"])
    async with tenant_tx(app_pool, tenant) as conn:
        fp = await resolve(conn, subject, b"k" * 32, uuid.uuid4())
        for entry in REGISTRY:
            for clause in entry.set.values():
                sql, args = _compile(f"select {clause} from {entry.table} limit 0", {})
                await conn.fetch(sql, *args)
    assert all(not f.linked and not f.mentions for f in fp.tables.values()), "an empty tenant has no rows"
