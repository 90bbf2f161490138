"""LGPD data-subject requests: submit (in the caller's transaction) and run (a worker).

``submit`` validates nothing itself (the identifiers arrive as a :class:`Subject`), writes the
``privacy_requests`` row, an ``audit_logs`` row (who asked, which kinds of identifier —
never the identifiers) and a ``privacy.request.queued`` event, all in one transaction.

``run_request`` is the body of the Ray task (or the in-process task without Ray). It claims
the row (queued → running; a second runner finds nothing to claim), resolves the subject's
footprint through :mod:`tools.privacy.registry` (saved before anything changes, so a retry
after a crash still knows rows it already anonymised), then exports or erases table by
table, reporting progress after each step, and finishes with the result and the
identifiers cleared. Every step is idempotent: re-running an erase changes nothing.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import redis.asyncio as redis

from core.settings import Settings
from core.tenancy import TenantId
from db.events import emit
from db.pool import tenant_tx
from knowledge.ingest import Ingestor, is_transient

from . import store
from .identifiers import Redactor, Subject, national_digits
from .redis_keys import sweep
from .registry import REGISTRY, SubjectTable

log = logging.getLogger("tridium.privacy")

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_ID_LISTS = ("lead_ids", "thread_ids", "message_ids", "run_ids", "deal_ids", "invoice_ids", "doc_ids")
_TEXT_ID_LISTS = ("payment_ids", "provider_ids")
_TYPES = {name: "uuid[]" for name in _ID_LISTS} | {
    "payment_ids": "text[]",
    "provider_ids": "text[]",
    "phone_digits": "text[]",
    "hashes": "text[]",
    "email": "text",
    "cpf": "text",
    "emails": "text[]",
    "cpfs": "text[]",
    "needle": "text",
    "id_needle": "text",
    "request_id": "uuid",
    "keys": "text[]",
}
_SKIP_IN_EXPORT = {"embedding", "tsv"}  # a vector and a generated index column: not "about" anyone


def subject_hash_key(settings: Settings) -> bytes:
    """The HMAC key of subject hashes, derived from the platform secret (rotating it makes
    old requests unrecognisable, nothing else)."""
    return hmac.new(settings.jwt_secret.get_secret_value().encode(), b"tridium-privacy-subject-v1", "sha256").digest()


@dataclass(frozen=True)
class PrivacyDeps:
    pool: asyncpg.Pool
    redis: redis.Redis
    hash_key: bytes
    events_stream: str
    ingestor: Ingestor | None = None  # re-embeds masked documents; None: their naming chunks are deleted


async def submit(
    conn: asyncpg.Connection, tenant_id: TenantId, *, kind: str, subject: Subject, requested_by: str, hash_key: bytes
) -> dict[str, Any]:
    row = await store.insert_request(
        conn,
        tenant_id,
        kind=kind,
        subject=subject.to_json(),
        hashes=subject.hashes(hash_key),
        kinds=subject.kinds,
        requested_by=requested_by,
    )
    meta = {"kind": kind, "identifier_kinds": subject.kinds}
    await conn.execute(
        "insert into audit_logs (tenant_id, actor, action, target, meta) values ($1, $2, $3, $4, $5)",
        tenant_id,
        requested_by,
        f"privacy.{kind}.requested",
        f"privacy_request:{row['id']}",
        meta,
    )
    await emit(conn, tenant_id, "privacy.request.queued", {"request_id": str(row["id"]), **meta})
    return row


# Resolution ---------------------------------------------------------------------------------


def _compile(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    names: list[str] = []

    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}::{_TYPES[name]}"

    text = _PLACEHOLDER.sub(repl, sql)
    return text, [params[n] for n in names]


@dataclass
class Found:
    linked: set[str]
    mentions: set[str]

    def to_json(self) -> dict[str, list[str]]:
        return {"linked": sorted(self.linked), "mentions": sorted(self.mentions - self.linked)}


@dataclass
class Footprint:
    subject: Subject
    tables: dict[str, Found]
    ids: dict[str, set[str]]

    def params(self, hash_key: bytes, request_id: UUID) -> dict[str, Any]:
        s = self.subject
        digits: list[str] = []
        for phone in s.values("phone"):  # the given number and those found on the subject's records
            national = national_digits(phone)
            digits += [national, "55" + national] if phone.startswith("+55") else [national]
        ids = s.identifiers_only()
        return {
            **{name: sorted(self.ids.get(name, set())) for name in (*_ID_LISTS, *_TEXT_ID_LISTS)},
            "email": s.email,
            "cpf": s.cpf,
            "emails": s.values("email"),
            "cpfs": s.values("cpf"),
            "phone_digits": [d for d in digits if d] or None,
            "needle": s.needle_regex(),
            "id_needle": ids.needle_regex(),
            "hashes": s.hashes(hash_key),
            "request_id": request_id,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "tables": {t: f.to_json() for t, f in self.tables.items() if f.linked or f.mentions},
            "ids": {k: sorted(v) for k, v in self.ids.items() if v},
        }

    def merge(self, saved: dict[str, Any]) -> None:
        for table, found in (saved.get("tables") or {}).items():
            f = self.tables.setdefault(table, Found(set(), set()))
            f.linked |= set(found.get("linked") or [])
            f.mentions |= set(found.get("mentions") or [])
        for name, values in (saved.get("ids") or {}).items():
            self.ids.setdefault(name, set()).update(values)


async def resolve(
    conn: asyncpg.Connection, subject: Subject, hash_key: bytes, request_id: UUID, saved: dict[str, Any] | None = None
) -> Footprint:
    """Find the subject's rows in every registered table (registry order: ids flow down)."""
    fp = Footprint(subject, {}, {})
    if saved:
        fp.merge(saved)
    for entry in REGISTRY:
        found = fp.tables.setdefault(entry.table, Found(set(), set()))
        rows = await _find(conn, entry, fp, hash_key, request_id)
        for r in rows:
            (found.linked if r["linked"] else found.mentions).add(r["k"])
            if r["linked"] or entry.collect_mentions:
                for name, _col in entry.collect:
                    value = r[f"c_{name}"]
                    if value is None:
                        continue
                    if name == "names":
                        fp.subject = fp.subject.with_names([value])
                    elif name in ("email", "phone", "cpf"):
                        fp.subject = fp.subject.with_alias(name, value)
                    else:
                        fp.ids.setdefault(name, set()).add(value)
        if entry.binary:
            found.mentions |= await _binary_mentions(conn, entry, fp.subject)
    return fp


_ALIASES = ("email", "phone", "cpf")


async def _find(
    conn: asyncpg.Connection, entry: SubjectTable, fp: Footprint, hash_key: bytes, request_id: UUID
) -> list[asyncpg.Record]:
    """The entry's rows. An entry that collects identifiers (leads) runs again while they
    grow: a lead found by CPF gives a phone, which finds the lead the inbox created from her
    WhatsApp number; bounded, the identifiers of one person are few."""
    rows: dict[str, asyncpg.Record] = {}
    subject = fp.subject
    for _ in range(4):
        sql, args = _compile(entry.find_sql(), fp.params(hash_key, request_id))
        for r in await conn.fetch(sql, *args):
            if r["k"] not in rows or (r["linked"] and not rows[r["k"]]["linked"]):
                rows[r["k"]] = r
        if not any(name in _ALIASES for name, _col in entry.collect):
            break
        for r in rows.values():
            if r["linked"]:
                for name, _col in entry.collect:
                    if name in _ALIASES and r[f"c_{name}"] is not None:
                        subject = subject.with_alias(name, r[f"c_{name}"])
        if subject.aliases == fp.subject.aliases:
            break
        fp.subject = Subject(fp.subject.email, fp.subject.phone, fp.subject.cpf, fp.subject.names, subject.aliases)
    return list(rows.values())


async def _binary_mentions(conn: asyncpg.Connection, entry: SubjectTable, subject: Subject) -> set[str]:
    """Rows whose bytea columns, decoded as UTF-8 (invalid bytes replaced), name the subject."""
    redactor = Redactor(subject if entry.names_in_mentions else subject.identifiers_only())
    cols = ", ".join(entry.binary)
    present = " or ".join(f"{c} is not null" for c in entry.binary)
    rows = await conn.fetch(f"select {entry.key}::text as k, {cols} from {entry.table} where {present}")
    return {
        r["k"]
        for r in rows
        if any(r[c] is not None and redactor.found(bytes(r[c]).decode("utf-8", "replace")) for c in entry.binary)
    }


# Export -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes | memoryview):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


async def _rows(conn: asyncpg.Connection, entry: SubjectTable, keys: set[str]) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"select * from {entry.table} where {entry.key}::text = any($1::text[]) order by 1", sorted(keys)
    )
    return [{k: _jsonable(v) for k, v in r.items() if k not in _SKIP_IN_EXPORT} for r in rows]


# Erase --------------------------------------------------------------------------------------


async def _redact_rows(
    conn: asyncpg.Connection, entry: SubjectTable, keys: set[str], redactor: Redactor, columns: tuple[str, ...]
) -> int:
    if not keys or not columns:
        return 0
    cols = ", ".join(columns)
    rows = await conn.fetch(
        f"select {entry.key}::text as k, {cols} from {entry.table} where {entry.key}::text = any($1::text[])",
        sorted(keys),
    )
    changed = 0
    sets = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    for r in rows:
        values = [redactor.json(r[c]) if r[c] is not None else None for c in columns]
        if values != [r[c] for c in columns]:
            await conn.execute(f"update {entry.table} set {sets} where {entry.key}::text = $1", r["k"], *values)
            changed += 1
    return changed


async def _erase_table(
    conn: asyncpg.Connection, entry: SubjectTable, found: Found, params: dict[str, Any], redactor: Redactor
) -> dict[str, Any]:
    linked, mentions = sorted(found.linked), found.mentions - found.linked
    out: dict[str, Any] = {"table": entry.table, "action": entry.action, "reason": entry.reason}
    out |= {"linked": len(linked), "mentions": len(mentions), "deleted": 0, "anonymised": 0, "redacted": 0}
    if linked and entry.action == "delete":
        status = await conn.execute(f"delete from {entry.table} where {entry.key}::text = any($1::text[])", linked)
        out["deleted"] += int(status.split()[-1])
    elif linked:
        if entry.set:
            sets = ", ".join(f"{c} = {expr}" for c, expr in entry.set.items())
            sql = f"""update {entry.table} set {sets} where {entry.key}::text = any($1::text[])
                      and ({
                " or ".join(f"{c} is distinct from {expr}" for c, expr in entry.set.items() if c != "updated_at")
            })"""
            status = await conn.execute(sql, linked)
            out["anonymised"] += int(status.split()[-1])
        if entry.action == "anonymise":  # a kept row changes only through its `set` (e.g. memberships: not at all)
            rest = tuple(c for c in entry.text if c not in entry.set)
            out["redacted"] += await _redact_rows(conn, entry, set(linked), redactor, rest)
    if mentions:
        if entry.on_mention == "delete":
            blob = " || ' ' || ".join(f"coalesce({c}::text, '')" for c in entry.text if c not in entry.binary)
            sql, args = _compile(
                f"delete from {entry.table} where {entry.key}::text = any({{keys}}) and ({blob}) ~* {{needle}}",
                params | {"keys": sorted(mentions)},
            )
            status = await conn.execute(sql, *args)
            out["deleted"] += int(status.split()[-1])
        else:
            out["redacted"] += await _redact_rows(conn, entry, mentions, redactor, entry.text)
    return out


async def _after_docs(deps: PrivacyDeps, tenant_id: TenantId, doc_ids: set[str]) -> dict[str, Any]:
    """Re-embed masked documents and delete their original files (which still name the subject)."""
    report: dict[str, Any] = {"docs_reindexed": 0, "files_deleted": 0, "errors": []}
    if not doc_ids:
        return report
    async with tenant_tx(deps.pool, tenant_id) as conn:
        rows = await conn.fetch(
            """select d.id, u.path from kb_docs d left join kb_uploads u
                 on u.tenant_id = d.tenant_id and u.id = d.upload_id
               where d.tenant_id = $1 and d.id = any($2::uuid[])""",
            tenant_id,
            sorted(doc_ids),
        )
    for r in rows:
        if deps.ingestor is None:
            report["errors"].append(f"{r['id']}: no embedder here; chunks naming the subject are deleted instead")
            continue
        try:
            await deps.ingestor.reindex_doc(tenant_id, r["id"], prune_models=True)
            report["docs_reindexed"] += 1
        except Exception as exc:  # noqa: BLE001 - reported; the vectors step deletes what still names them
            report["errors"].append(f"{r['id']}: {getattr(exc, 'message', None) or exc}"[:300])
        if r["path"]:
            await deps.ingestor.blobs.delete(r["path"])
            report["files_deleted"] += 1
    return report


# The worker ---------------------------------------------------------------------------------


async def run_request(deps: PrivacyDeps, tenant_id: TenantId, request_id: UUID) -> str:
    """Process one request to ``done`` (or ``failed``); returns the final status."""
    async with tenant_tx(deps.pool, tenant_id) as conn:
        claimed = await store.claim(conn, tenant_id, request_id)
    if claimed is None:
        async with tenant_tx(deps.pool, tenant_id) as conn:
            return str((await store.get_request(conn, tenant_id, request_id))["status"])
    kind = str(claimed["kind"])
    try:
        subject = Subject.from_json(claimed["subject"])
        if kind == "export":
            result = await _export(deps, tenant_id, request_id, subject)
        else:
            result = await _erase(deps, tenant_id, request_id, subject, claimed["footprint"] or {})
    except Exception as exc:
        if int(claimed["attempts"]) < 3 and (is_transient(exc) or isinstance(exc, redis.ConnectionError)):
            async with tenant_tx(deps.pool, tenant_id) as conn:  # the next try (Ray retry) reclaims it
                await conn.execute(
                    "update privacy_requests set status = 'queued' where tenant_id = $1 and id = $2",
                    tenant_id,
                    request_id,
                )
            raise
        log.exception("privacy request %s failed", request_id)
        async with tenant_tx(deps.pool, tenant_id) as conn:
            await store.finish(conn, tenant_id, request_id, status="failed", result=None, error=_message(exc))
            await _completed(conn, tenant_id, request_id, kind, "failed", None)
        return "failed"
    async with tenant_tx(deps.pool, tenant_id) as conn:
        await store.finish(conn, tenant_id, request_id, status="done", result=result)
        await _completed(conn, tenant_id, request_id, kind, "done", result)
    return "done"


async def _completed(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    request_id: UUID,
    kind: str,
    status: str,
    result: dict[str, Any] | None,
) -> None:
    counts = (result or {}).get("counts") or {}
    meta = {"kind": kind, "status": status, "counts": counts}
    await conn.execute(
        "insert into audit_logs (tenant_id, actor, action, target, meta) values ($1, 'system:privacy', $2, $3, $4)",
        tenant_id,
        f"privacy.{kind}.{status}",
        f"privacy_request:{request_id}",
        meta,
    )
    await emit(conn, tenant_id, "privacy.request.completed", {"request_id": str(request_id), **meta})


def _message(exc: BaseException) -> str:
    return (getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}")[:300]


async def _progress(deps: PrivacyDeps, tenant_id: TenantId, request_id: UUID, done: int, total: int, step: str) -> None:
    async with tenant_tx(deps.pool, tenant_id) as conn:
        await store.report(conn, tenant_id, request_id, done, total, step)


async def _export(deps: PrivacyDeps, tenant_id: TenantId, request_id: UUID, subject: Subject) -> dict[str, Any]:
    total = len(REGISTRY) + 2
    async with tenant_tx(deps.pool, tenant_id) as conn:
        fp = await resolve(conn, subject, deps.hash_key, request_id)
    await _progress(deps, tenant_id, request_id, 1, total, "resolved")
    tables: dict[str, list[dict[str, Any]]] = {}
    for i, entry in enumerate(REGISTRY, 2):
        found = fp.tables.get(entry.table)
        if found and (found.linked or found.mentions) and entry.table != "privacy_requests":
            async with tenant_tx(deps.pool, tenant_id) as conn:
                tables[entry.table] = await _rows(conn, entry, found.linked | found.mentions)
        await _progress(deps, tenant_id, request_id, i, total, entry.table)
    needle = re.compile(fp.subject.needle_regex(), re.IGNORECASE)
    found_redis = await sweep(
        deps.redis, tenant_id, sorted(fp.ids.get("run_ids", set())), needle, deps.events_stream, erase=False
    )
    return {
        "kind": "export",
        "generated_at": datetime.now(UTC).isoformat(),
        "identifier_kinds": subject.kinds,
        "legal_basis": "LGPD Art. 18 II (access) and V (portability), Art. 19 II (complete, in a readable format)",
        "counts": {t: len(rows) for t, rows in tables.items()},
        "tables": tables,
        "redis": found_redis.found,
    }


async def _erase(
    deps: PrivacyDeps,
    tenant_id: TenantId,
    request_id: UUID,
    subject: Subject,
    saved: dict[str, Any],
) -> dict[str, Any]:
    total = len(REGISTRY) + 3
    async with tenant_tx(deps.pool, tenant_id) as conn:
        fp = await resolve(conn, subject, deps.hash_key, request_id, saved)
        await store.save_footprint(conn, tenant_id, request_id, fp.to_json(), fp.subject.to_json())
    await _progress(deps, tenant_id, request_id, 1, total, "resolved")
    params = fp.params(deps.hash_key, request_id)
    redactor = Redactor(fp.subject)
    steps: list[dict[str, Any]] = []
    kept: list[dict[str, Any]] = []
    search: dict[str, Any] = {}
    for i, entry in enumerate(REGISTRY, 2):
        found = fp.tables.get(entry.table, Found(set(), set()))
        async with tenant_tx(deps.pool, tenant_id) as conn:
            steps.append(await _erase_table(conn, entry, found, params, redactor))
        if entry.action == "keep" and found.linked:
            kept.extend(
                {"table": entry.table, "key": k, "kept": list(entry.kept_columns), "reason": entry.reason}
                for k in sorted(found.linked)
            )
        if entry.table == "kb_docs":
            search = await _after_docs(deps, tenant_id, found.mentions - found.linked)
        await _progress(deps, tenant_id, request_id, i, total, entry.table)
    needle = re.compile(fp.subject.needle_regex(), re.IGNORECASE)
    cleared = await sweep(
        deps.redis, tenant_id, sorted(fp.ids.get("run_ids", set())), needle, deps.events_stream, erase=True
    )
    touched = sum(s["deleted"] + s["anonymised"] + s["redacted"] for s in steps) + sum(cleared.counts().values())
    touched -= cleared.query_cache_keys  # dropping a cache is not evidence that the subject was there
    result: dict[str, Any] = {
        "kind": "erase",
        "identifier_kinds": subject.kinds,
        "legal_basis": "LGPD Art. 18 IV and VI (anonymisation and elimination), Art. 16 (what is kept and why)",
        "noop": touched == 0 and not search.get("docs_reindexed"),
        "counts": {s["table"]: s["deleted"] + s["anonymised"] + s["redacted"] for s in steps},
        "tables": steps,
        "kept": kept,
        "redis": cleared.counts(),
        "search": search,
    }
    return result


__all__ = ["PrivacyDeps", "resolve", "run_request", "subject_hash_key", "submit"]
