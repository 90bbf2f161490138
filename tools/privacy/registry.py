"""Where a data subject can appear in Postgres, and what an erase does there.

Every tenant table is either in :data:`REGISTRY` (it can hold personal data of a lead,
a customer or a contact) or in :data:`NOT_PERSONAL` (reviewed: it cannot). The test
``tests/integration/test_privacy_registry.py`` reads the catalog and fails when a tenant
table is in neither, when a registered table has a text/JSON column nobody classified,
or when an unregistered table has a column that points at a lead, thread or contact.
Adding a table with personal data therefore means adding an entry here.

How a subject's rows are found (:meth:`SubjectTable.find_sql`):

* ``linked``: rows *about* the subject, by identifier (a lead's e-mail) or by the ids of
  rows already found (a thread of the subject's lead). Tables are resolved in registry
  order, so a table may use the ids that earlier tables ``collect``.
* mentions: rows whose ``text`` columns match the subject's needles (e-mail, phone, CPF
  in any punctuation, full names of the subject's leads) — a document that names them, a
  log line, a stored idempotent response.

What an erase does (``action`` for linked rows; mention-only rows get ``on_mention``):

* ``delete`` — the row goes.
* ``anonymise`` — the ``set`` columns are overwritten, the row stays for aggregates that
  no longer identify anyone (LGPD Art. 12 and Art. 16 IV).
* ``keep`` — a legal obligation or a legitimate record keeps the row (``reason``, quoted
  per table in the erase result); ``set`` still clears the personal fields it does not need.
* mention-only rows: ``redact`` masks the needles in the ``text`` columns (same length,
  so stored offsets stay valid) or ``delete`` removes the row (vectors: a masked chunk
  would keep the embedding of the original text).

Placeholders in the SQL: ``{lead_ids}`` ``{thread_ids}`` ``{message_ids}`` ``{run_ids}``
``{deal_ids}`` ``{invoice_ids}`` (uuid[]), ``{payment_ids}`` (text[], Asaas ids),
``{provider_ids}`` (text[], the channel provider's message ids of the subject's messages), ``{email}`` ``{cpf}``
(text: the identifiers given), ``{emails}`` ``{cpfs}`` (text[]: given and found on the subject's
leads), ``{phone_digits}`` (text[]: national and with 55, given and found), ``{id_needle}`` (identifiers
only, no names), ``{hashes}`` (text[], the subject's HMACs), ``{request_id}`` (uuid).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["delete", "anonymise", "keep"]
OnMention = Literal["redact", "delete"]

# LGPD articles quoted in reasons (texts in docs/privacy.md).
ART_16_I = "LGPD Art. 16 I (legal or regulatory obligation of the controller)"
ART_16_IV = "LGPD Art. 16 IV (controller's exclusive use, anonymised)"
ART_37 = "LGPD Art. 37 and Art. 6 X (record of processing operations, accountability)"

_TAX = (
    "payment records are kept for tax and accounting: amounts, dates, status and the processor's ids "
    "(CTN Art. 195 sole paragraph with Art. 173/174, Código Civil Art. 1.194: books and their vouchers until "
    "the tax credits prescribe, 5 years); " + ART_16_I
)

# Asaas payment fields that carry no personal data (the rest — description, invoice URL,
# customer details — is dropped on erase). Verified against tools/asaas models.
_ASAAS_PAYMENT_KEEP = (
    *("object", "id", "customer", "value", "netValue", "originalValue", "interestValue", "billingType", "status"),
    *("dueDate", "originalDueDate", "paymentDate", "clientPaymentDate", "confirmedDate", "creditDate"),
    *("estimatedCreditDate", "dateCreated", "deleted", "anticipated", "externalReference"),
)


def _reduce(expr: str) -> str:
    pairs = ", ".join(f"'{k}', {expr}->'{k}'" for k in _ASAAS_PAYMENT_KEEP)
    return f"jsonb_strip_nulls(jsonb_build_object({pairs}))"


@dataclass(frozen=True)
class SubjectTable:
    table: str
    action: Action
    reason: str
    text: tuple[str, ...]
    linked: str | None = None
    on_mention: OnMention = "redact"
    set: dict[str, str] = field(default_factory=dict)
    reviewed: tuple[str, ...] = ()
    key: str = "id"
    collect: tuple[tuple[str, str], ...] = ()  # (footprint name, column) gathered from linked rows
    collect_mentions: bool = False  # also gather from mention-only rows
    names_in_mentions: bool = True  # False: match identifiers only (another person's record)
    # bytea columns (also in ``text``) holding UTF-8 text: SQL cannot decode arbitrary bytes
    # without failing, so their mentions are matched in Python after a lenient decode.
    binary: tuple[str, ...] = ()

    def find_sql(self, *, names: bool = True) -> str:
        """``select key, linked from table where …`` with placeholders (see module doc)."""
        needle = "{needle}" if names and self.names_in_mentions else "{id_needle}"
        blob = " || ' ' || ".join(f"coalesce({c}::text, '')" for c in self.text if c not in self.binary)
        mention = f"({blob}) ~* {needle}" if blob else "false"
        linked = f"({self.linked})" if self.linked else "false"
        collected = "".join(f", ({col})::text as c_{name}" for name, col in self.collect)
        return (
            f"select {self.key}::text as k, coalesce({linked}, false) as linked{collected} "
            f"from {self.table} where coalesce({linked}, false) or {mention}"
        )

    @property
    def kept_columns(self) -> tuple[str, ...]:
        return tuple(c for c in self.reviewed if c not in self.set)


@dataclass(frozen=True)
class NotPersonal:
    table: str
    reason: str
    reviewed: tuple[str, ...]


REGISTRY: tuple[SubjectTable, ...] = (
    SubjectTable(
        "leads",
        "anonymise",
        "the lead becomes an anonymous record: source, campaign, stage and score still count in the funnel "
        "KPIs; " + ART_16_IV,
        text=("name", "email", "phone", "meta"),
        linked=(
            "lower(email) = any({emails}) or regexp_replace(coalesce(phone, ''), '\\D', '', 'g') = any({phone_digits}) "
            "or regexp_replace(coalesce(meta->>'cpf', meta->>'cpfCnpj', ''), '\\D', '', 'g') = any({cpfs})"
        ),
        set={
            "name": "'titular removido'",
            "email": "null",
            "phone": "null",
            "meta": "'{}'::jsonb",
            "updated_at": "now()",
        },
        reviewed=("source", "campaign", "stage"),
        # The lead's name and other identifiers join the needles (never the lead lookup).
        collect=(
            ("lead_ids", "id"),
            ("names", "name"),
            ("email", "email"),
            ("phone", "phone"),
            ("cpf", "coalesce(meta->>'cpf', meta->>'cpfCnpj')"),
        ),
        names_in_mentions=False,
    ),
    SubjectTable(
        "threads",
        "delete",
        "conversations of the subject are deleted with their messages",
        # The inbox's conversation state names the contact (contact_name, the preview of the
        # last message, Luddy's handoff summary); assignee is a staff member's user id.
        text=("external_id", "contact_name", "status_reason", "handoff_summary", "last_message_preview"),
        linked="lead_id = any({lead_ids}) or external_id ~* {id_needle}",
        reviewed=("channel", "status", "assignee"),
        collect=(("thread_ids", "id"),),
    ),
    SubjectTable(
        "messages",
        "delete",
        "messages of the subject's conversations are deleted",
        # media: the provider's media refs (ids, captions, file names); status_reason: the
        # provider's failure text (can quote the recipient).
        text=("sender", "body", "meta", "media", "status_reason"),
        linked="thread_id = any({thread_ids})",
        reviewed=("direction", "content_type", "provider_message_id", "status", "turn_state"),
        collect=(("message_ids", "id"), ("provider_ids", "provider_message_id")),
    ),
    SubjectTable(
        "outbound_deliveries",
        "delete",
        "what was sent to the subject (the part's text, the recipient's address) goes with the conversation",
        text=("recipient", "content", "error"),
        linked="thread_id = any({thread_ids}) or message_id = any({message_ids})",
        reviewed=("idempotency_key", "status", "provider_message_id", "error_code"),
    ),
    SubjectTable(
        "inbound_deliveries",
        "delete",
        "the stored webhook item (the provider's raw payload: the contact's phone or address, profile name and "
        "text) of the subject's messages and of the status callbacks about messages sent to them is deleted; a "
        "delivery of someone else that mentions the subject is masked",
        text=("item", "outcome"),
        linked="message_id = any({message_ids}) or provider_message_id = any({provider_ids}) "
        "or item->'contact'->>'value' ~* {id_needle} or item->>'recipient' ~* {id_needle}",
        reviewed=("provider", "kind", "event_key", "provider_message_id"),
    ),
    SubjectTable(
        "thread_notes",
        "delete",
        "staff's private notes on the subject's conversations are deleted with them; notes elsewhere that "
        "mention the subject are masked",
        text=("body",),
        linked="thread_id = any({thread_ids})",
        reviewed=("author",),
    ),
    SubjectTable(
        "agent_runs",
        "anonymise",
        "run texts are cleared; tokens, cost, latency and model stay for the tenant's AI cost accounting; " + ART_16_IV,
        text=("input", "output", "sources", "tool_calls", "error"),
        linked="thread_id = any({thread_ids})",
        set={"input": "''", "output": "null", "sources": "'[]'::jsonb", "tool_calls": "'[]'::jsonb", "error": "null"},
        reviewed=("status", "model", "ab_bucket", "price_version"),
        collect=(("run_ids", "id"),),
        collect_mentions=True,
    ),
    SubjectTable(
        "tool_invocations",
        "delete",
        "tool calls of the subject's runs (arguments and results name them) are deleted; the runs are finished",
        text=("args", "result"),
        linked="run_id = any({run_ids})",
        reviewed=("agent", "tool", "idempotency_key"),
    ),
    SubjectTable(
        "deals",
        "anonymise",
        "value, stage and dates stay for revenue KPIs and the invoices' link; title and meta are cleared; " + ART_16_IV,
        text=("title", "meta"),
        linked="lead_id = any({lead_ids})",
        set={"title": "''", "meta": "'{}'::jsonb"},
        reviewed=("stage",),
        collect=(("deal_ids", "id"),),
    ),
    SubjectTable(
        "invoices",
        "keep",
        _TAX + "; the checkout URL and metadata are cleared",
        text=("url", "meta"),
        linked="lead_id = any({lead_ids}) or deal_id = any({deal_ids})",
        set={"url": "null", "meta": "'{}'::jsonb", "updated_at": "now()"},
        reviewed=("provider", "external_id", "method", "status", "customer_id"),
        collect=(("invoice_ids", "id"),),
    ),
    SubjectTable(
        "payments",
        "keep",
        _TAX + "; the stored Asaas payload keeps only amounts, dates, status and ids",
        text=("raw",),
        linked="invoice_id = any({invoice_ids})",
        set={"raw": _reduce("raw"), "updated_at": "now()"},
        reviewed=("status", "external_id", "billing_type"),
        collect=(("payment_ids", "external_id"),),
    ),
    SubjectTable(
        "asaas_events",
        "keep",
        _TAX + "; the webhook ledger (which deliveries were applied) keeps the event and the reduced payment",
        text=("payload",),
        linked="payment_id = any({payment_ids})",
        set={
            "payload": "jsonb_strip_nulls(jsonb_build_object('id', payload->'id', 'event', payload->'event', "
            "'dateCreated', payload->'dateCreated', 'payment', " + _reduce("(payload->'payment')") + "))"
        },
        reviewed=("event_id", "event_type", "payment_id", "outcome"),
    ),
    SubjectTable(
        "attributed_conversions",
        "keep",
        "holds no personal field: source, campaign and value of a won deal for ad attribution; its lead is "
        "anonymised; " + ART_16_IV,
        text=(),
        linked="lead_id = any({lead_ids}) or deal_id = any({deal_ids})",
        reviewed=("source", "campaign"),
    ),
    SubjectTable(
        "lead_attribution",
        "delete",
        "where the subject's lead came from: the ad click id (fbclid/gclid/ttclid/ctwa_clid) is a pseudonymous "
        "identifier of the person, so the row goes; the ad spend KPIs keep the anonymised lead's source and campaign",
        text=("click_id", "utm"),
        linked="lead_id = any({lead_ids})",
        reviewed=(
            *("platform", "campaign_external_id", "adset_external_id", "ad_external_id", "click_id_kind"),
            *("touch", "source"),
        ),
    ),
    SubjectTable(
        "visitor_touches",
        "delete",
        "the ad touch a web-chat visitor brought before writing (click ids are pseudonymous identifiers)",
        text=("touch",),
        linked="visitor_id = any(select external_id from threads where id = any({thread_ids}))",
        reviewed=("visitor_id",),
    ),
    SubjectTable(
        "lead_suppressions",
        "delete",
        "the marker that kept a customer out of nurture and retargeting goes with the lead",
        text=("reason",),
        linked="lead_id = any({lead_ids})",
        reviewed=("kind",),
    ),
    SubjectTable(
        "ad_conversions",
        "anonymise",
        "a conversion sent to an ad platform: value, currency, date and status stay for ROAS and CAC; the hashed "
        "identifiers, click ids and the platform's answer are cleared; " + ART_16_IV,
        text=("identifiers", "response", "error"),
        linked="lead_id = any({lead_ids}) or deal_id = any({deal_ids})",
        set={"identifiers": "'{}'::jsonb", "response": "null", "error": "null", "updated_at": "now()"},
        reviewed=("platform", "event_id", "kind", "currency", "status", "error_code"),
    ),
    SubjectTable(
        "creatives",
        "keep",
        "a marketing asset of the tenant; mentions of the subject are masked",
        text=("name", "audience", "angle", "campaign", "meta"),
        reviewed=("status",),
    ),
    SubjectTable(
        "creative_versions",
        "keep",
        "a marketing asset of the tenant; mentions of the subject are masked",
        text=("headline", "body", "sources"),
        reviewed=("approval",),
    ),
    SubjectTable(
        "agent_messages",
        "keep",
        "agent-to-agent messages are kept; mentions of the subject are masked",
        text=("body", "reply"),
        reviewed=("from_agent", "to_agent", "kind", "status"),
    ),
    SubjectTable(
        "kb_docs",
        "keep",
        "the tenant's documents stay searchable with the subject masked; their chunks are re-embedded from the "
        "masked text and the original file (which still names the subject) is deleted from storage",
        text=("title", "body", "source", "meta"),
        reviewed=("kind", "embed_model"),
        collect=(("doc_ids", "id"),),
        collect_mentions=True,
    ),
    SubjectTable(
        "kb_vectors",
        "keep",
        "chunks still naming the subject after the re-embedding are deleted (a masked chunk would keep the "
        "vector of the original text)",
        text=("chunk", "context"),
        on_mention="delete",
        reviewed=("content_hash", "model", "tsv"),
    ),
    SubjectTable(
        "kb_uploads",
        "keep",
        "upload records stay (the document's provenance); mentions in their names are masked",
        text=("filename", "title", "error"),
        reviewed=("path", "status", "mime", "kind", "sha256"),
    ),
    SubjectTable(
        "event_log",
        "keep",
        "the outbox keeps its events (ids and types, consumed by other services); mentions are masked",
        text=("payload",),
        reviewed=("type", "request_id"),
    ),
    SubjectTable(
        "audit_logs",
        "keep",
        "audit entries stay with the subject masked; " + ART_37,
        text=("target", "meta"),
        reviewed=("actor", "action"),
    ),
    SubjectTable(
        "error_logs",
        "keep",
        "operational error entries that mention the subject are deleted",
        text=("message", "payload"),
        on_mention="delete",
        reviewed=("source", "code"),
    ),
    SubjectTable(
        "idempotency_keys",
        "keep",
        "stored responses stay (a retried request must not run twice) with the subject masked; the exact "
        "response bytes are masked as UTF-8 text (same number of characters)",
        text=("response_body", "response_bytes"),
        binary=("response_bytes",),
        reviewed=("principal", "key", "method", "path", "request_hash", "status", "response_headers"),
        key="principal || ':' || key",
    ),
    SubjectTable(
        "memberships",
        "keep",
        "a member of the tenant's own team: access is removed by the tenant's owner (remove the member), not by "
        "a customer's request; reported so the tenant can act",
        text=("email",),
        linked="lower(email) = {email}",
        reviewed=("user_id", "role"),
        key="user_id",
        names_in_mentions=False,
    ),
    SubjectTable(
        "privacy_requests",
        "delete",
        "earlier export bundles of the subject are deleted; erase requests keep only HMACs of the identifiers, "
        "counts and reasons; " + ART_37,
        text=("result", "error"),
        linked="subject_hashes && {hashes} and kind = 'export' and status in ('done', 'failed')",
        reviewed=(
            "kind",
            "status",
            "subject",
            "subject_hashes",
            "identifier_kinds",
            "requested_by",
            "footprint",
            "progress",
        ),
    ),
)

NOT_PERSONAL: tuple[NotPersonal, ...] = (
    NotPersonal("kb_spaces", "names of the tenant's knowledge spaces", ("name",)),
    NotPersonal("rag_jobs", "reindex job bookkeeping (ids, counts, model)", ("status", "model", "error")),
    NotPersonal("agents", "the tenant's agent configuration", ("name", "role", "tools", "guardrails", "settings")),
    NotPersonal("prompt_versions", "the tenant's prompts", ("text", "ab_bucket")),
    NotPersonal(
        "integrations",
        "the tenant's provider settings (no customer data)",
        (
            "provider",
            "base_url",
            "api_key_ref",
            "webhook_token_hash",
            "webhook_id",
            "webhook_url",
            "webhook_send_type",
            "webhook_events",
            "dunning_policy",
        ),
    ),
    NotPersonal("processed_events", "consumer dedupe markers (event ids)", ("consumer",)),
    NotPersonal(
        "channel_accounts",
        "the tenant's own provider accounts (its WhatsApp business number, Instagram account, inbound address, "
        "chat widget) and their encrypted credentials: data of the business, not of a customer; a customer's "
        "identity lives on threads/messages/deliveries",
        ("channel", "provider", "external_id", "name", "base_url", "config", "secrets", "secret_hints"),
    ),
    NotPersonal(
        "ad_accounts",
        "the tenant's own ad-platform accounts and their encrypted tokens: data of the business",
        ("platform", "external_id", "name", "currency", "timezone", "base_url", "config", "secrets", "secret_hints"),
    ),
    NotPersonal("ad_policies", "the tenant's ad spend guardrails (caps, which member changed them)", ("updated_by",)),
    NotPersonal(
        "ad_objects",
        "the tenant's campaigns, ad sets, ads and creatives as mirrored from the ad platform",
        ("platform", "level", "external_id", "parent_external_id", "name", "status", "meta"),
    ),
    NotPersonal(
        "ad_changes",
        "changes to the tenant's ad objects (budgets, statuses) with who asked and approved them",
        (
            *("kind", "requested_by", "idempotency_key", "params", "before", "after", "status", "dry_run"),
            *("decided_by", "decision_note", "error_code", "error"),
        ),
    ),
    NotPersonal(
        "ad_metrics_daily",
        "aggregate ad delivery per object and day (impressions, clicks, spend)",
        ("platform", "level", "external_id", "campaign_external_id", "currency", "raw"),
    ),
    NotPersonal("ad_sync_runs", "insights sync bookkeeping", ("status", "error")),
    NotPersonal("ad_rules", "the tenant's ad optimisation rules", ("name", "kind", "params", "platform")),
    NotPersonal(
        "ai_budgets",
        "the tenant's monthly AI budget settings (limit, policy, which member changed it)",
        ("on_exceed", "updated_by"),
    ),
)

# Column names that point at a person or a conversation: a table with one must be registered.
REFERENCE_COLUMN = re.compile(r"^(lead_id|thread_id|contact(_.*)?|customer(_.*)?|.*email.*|.*phone.*|cpf.*|.*_cpf)$")

BY_TABLE: dict[str, SubjectTable] = {t.table: t for t in REGISTRY}

__all__ = ["BY_TABLE", "NOT_PERSONAL", "REFERENCE_COLUMN", "REGISTRY", "NotPersonal", "SubjectTable"]
