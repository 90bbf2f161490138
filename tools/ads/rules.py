"""Budget rules as data (``ad_rules``), evaluated after each insights sync.

A rule never changes a platform itself: it *proposes* a change through
``tools.ads.changes.propose_change`` (requested by ``rule:<id>``), so the same guardrails,
approvals and audit apply as to Lucy or a person. Each proposal's idempotency key is
``rule:<rule id>:<object id>:<day>``: re-syncing the same day never proposes twice.

Kinds and their ``params`` (all optional except where said):

* ``stop_loss`` — ``{"metric": "cpa" | "cpl", "max_minor": X (required), "days": N = 3,
  "min_spend_minor": 0}``: an ACTIVE campaign whose cost per conversion (platform
  conversions, ``cpa``) or per lead (our attributed leads, ``cpl``) over the last N days is
  above X is paused. With no conversion at all, spend above X counts as above X.
* ``scale_up`` — ``{"min_roas": Y (required), "days": N = 7, "step_pct": 20,
  "min_spend_minor": 0}``: an ACTIVE campaign with a daily budget whose ROAS (our paid
  revenue attributed to it, over its spend) over N days is at least Y gets its budget raised
  by ``step_pct`` (the guardrails cap the step and the day's total).
* ``pause_no_delivery`` — ``{"days": N = 3}``: an ACTIVE campaign, known to us for at least
  N days, with 0 impressions over the last N days is paused.

Rules apply to campaigns (of ``platform`` when the rule names one). ``evaluate`` is pure;
``run_rules`` loads the windows through ``tools.ads.kpi`` (the numbers ``/metrics/kpi``
shows) and hands proposals to ``propose_change``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

import asyncpg

from core.errors import TridiumError
from core.tenancy import TenantId

from .errors import GuardrailViolated
from .kpi import KpiCounts, kpi_report

log = logging.getLogger("tridium.ads.rules")

RuleKind = Literal["stop_loss", "scale_up", "pause_no_delivery"]
DEFAULT_DAYS: dict[str, int] = {"stop_loss": 3, "scale_up": 7, "pause_no_delivery": 3}


@dataclass(frozen=True, slots=True)
class Rule:
    id: UUID
    kind: RuleKind
    params: dict[str, Any]
    platform: str | None = None
    name: str = ""

    @property
    def days(self) -> int:
        return max(1, min(90, int(self.params.get("days", DEFAULT_DAYS[self.kind]))))


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as the rules see it: our mirror row (ad_objects)."""

    object_id: UUID
    account_id: UUID
    platform: str
    external_id: str
    status: str
    daily_budget_minor: int | None
    known_since: datetime | date


@dataclass(frozen=True, slots=True)
class Proposal:
    rule_id: UUID
    object_id: UUID
    account_id: UUID
    kind: Literal["set_status", "set_budget"]
    params: dict[str, Any]
    idempotency_key: str
    reason: str
    requested_by: str = field(default="")


def idempotency_key(rule_id: UUID, object_id: UUID, day: date) -> str:
    return f"rule:{rule_id}:{object_id}:{day.isoformat()}"


def _known_days(c: Campaign, day: date) -> int:
    since = c.known_since.date() if isinstance(c.known_since, datetime) else c.known_since
    return (day - since).days


def evaluate(
    rules: Iterable[Rule],
    campaigns: Iterable[Campaign],
    windows: dict[int, dict[tuple[str, str], KpiCounts]],
    day: date,
) -> list[Proposal]:
    """Proposals of every rule for every campaign it applies to.

    ``windows[n][(platform, campaign external id)]`` holds the campaign's counts over the
    ``n`` days ending on ``day`` (missing: no delivery, no leads). Pure."""
    campaigns = list(campaigns)
    out: list[Proposal] = []
    for rule in rules:
        window = windows.get(rule.days, {})
        for c in campaigns:
            if rule.platform and c.platform != rule.platform:
                continue
            if c.status != "active":
                continue
            counts = window.get((c.platform, c.external_id), KpiCounts())
            proposal = _one(rule, c, counts, day)
            if proposal is not None:
                out.append(proposal)
    return out


def _proposal(
    rule: Rule, c: Campaign, day: date, kind: Literal["set_status", "set_budget"], params: dict[str, Any], reason: str
) -> Proposal:
    return Proposal(
        rule_id=rule.id,
        object_id=c.object_id,
        account_id=c.account_id,
        kind=kind,
        params=params,
        idempotency_key=idempotency_key(rule.id, c.object_id, day),
        reason=reason,
        requested_by=f"rule:{rule.id}",
    )


def _one(rule: Rule, c: Campaign, counts: KpiCounts, day: date) -> Proposal | None:
    p = rule.params
    min_spend = int(p.get("min_spend_minor", 0))
    if rule.kind == "stop_loss":
        metric = p.get("metric", "cpa")
        max_minor = int(p["max_minor"])
        if counts.spend_minor <= 0 or counts.spend_minor < min_spend:
            return None
        denominator = counts.platform_conversions if metric == "cpa" else counts.leads
        # No conversion yet: the spend so far is the best (lowest) cost per conversion possible.
        cost = counts.spend_minor / denominator if denominator else float(counts.spend_minor)
        if cost <= max_minor:
            return None
        shown = f"gasto {counts.spend_minor} sem conversões" if not denominator else f"{metric.upper()} {round(cost)}"
        return _proposal(
            rule,
            c,
            day,
            "set_status",
            {"status": "paused"},
            f"stop_loss: {shown} > {max_minor} (centavos) em {rule.days} dia(s)",
        )
    if rule.kind == "scale_up":
        min_roas = float(p["min_roas"])
        step = float(p.get("step_pct", 20))
        if c.daily_budget_minor is None or c.daily_budget_minor <= 0 or counts.spend_minor <= 0:
            return None
        if counts.spend_minor < min_spend:
            return None
        roas = counts.revenue_minor / counts.spend_minor
        if roas < min_roas:
            return None
        new_budget = int(c.daily_budget_minor * (100 + step) / 100 + 0.5)
        if new_budget <= c.daily_budget_minor:
            return None
        return _proposal(
            rule,
            c,
            day,
            "set_budget",
            {"daily_budget_minor": new_budget},
            f"scale_up: ROAS {roas:.2f} >= {min_roas} em {rule.days} dia(s); orçamento "
            f"{c.daily_budget_minor} → {new_budget}",
        )
    # pause_no_delivery
    if counts.impressions > 0 or _known_days(c, day) < rule.days:
        return None
    return _proposal(
        rule,
        c,
        day,
        "set_status",
        {"status": "paused"},
        f"pause_no_delivery: 0 impressões em {rule.days} dia(s) com a campanha ativa",
    )


def parse_rule(row: asyncpg.Record | dict[str, Any]) -> Rule | None:
    """A rule row, or None (logged) when its params are unusable — a bad rule never stops a sync."""
    try:
        rule = Rule(
            id=row["id"], kind=row["kind"], params=dict(row["params"] or {}), platform=row["platform"], name=row["name"]
        )
        if rule.kind == "stop_loss":
            int(rule.params["max_minor"])
            if rule.params.get("metric", "cpa") not in ("cpa", "cpl"):
                raise ValueError("metric must be cpa or cpl")
        elif rule.kind == "scale_up":
            float(rule.params["min_roas"])
            float(rule.params.get("step_pct", 20))
        _ = rule.days
        return rule
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ad rule skipped: bad params", extra={"rule_id": str(row["id"]), "error": repr(exc)})
        return None


ProposeFn = Callable[..., Awaitable[dict[str, Any]]]


async def run_rules(
    conn: asyncpg.Connection,
    tenant_id: TenantId,
    account_id: UUID,
    day: date,
    *,
    propose: ProposeFn | None = None,
) -> list[dict[str, Any]]:
    """Evaluate the tenant's active rules on one account's campaigns and propose the changes.

    ``conn`` is inside the tenant's transaction; each proposal runs in a savepoint so one
    refused by the guardrails does not undo the others. Returns one summary per proposal."""
    if propose is None:
        from .changes import propose_change  # adscore's service (guardrails, approvals, audit)

        propose = propose_change
    rules = [
        r
        for r in (
            parse_rule(x)
            for x in await conn.fetch(
                """select id, name, kind, params, platform from ad_rules
                   where tenant_id = $1 and active order by created_at""",
                tenant_id,
            )
        )
        if r is not None
    ]
    if not rules:
        return []
    campaigns = [
        Campaign(
            r["id"],
            r["account_id"],
            r["platform"],
            r["external_id"],
            r["status"],
            r["daily_budget_minor"],
            r["created_at"],
        )
        for r in await conn.fetch(
            """select id, account_id, platform, external_id, status, daily_budget_minor, created_at from ad_objects
               where tenant_id = $1 and account_id = $2 and level = 'campaign' and status = 'active'""",
            tenant_id,
            account_id,
        )
    ]
    windows: dict[int, dict[tuple[str, str], KpiCounts]] = {}
    for n in sorted({r.days for r in rules}):
        report = await kpi_report(conn, tenant_id, day - timedelta(days=n - 1), day, "campaign")
        windows[n] = {
            (g["platform"], g["key"]): KpiCounts(
                spend_minor=g["spend_minor"],
                impressions=g["impressions"],
                clicks=g["clicks"],
                platform_conversions=g["platform_conversions"],
                leads=g["leads"],
                customers=g["customers"],
                revenue_minor=g["revenue_minor"],
            )
            for g in report["groups"]
            if g["platform"] and g["key"]
        }
    results: list[dict[str, Any]] = []
    for p in evaluate(rules, campaigns, windows, day):
        try:
            async with conn.transaction():
                change = await propose(
                    conn,
                    tenant_id,
                    account_id=p.account_id,
                    kind=p.kind,
                    params=p.params,
                    requested_by=p.requested_by,
                    idempotency_key=p.idempotency_key,
                    object_id=p.object_id,
                )
            results.append(
                {
                    "rule_id": str(p.rule_id),
                    "key": p.idempotency_key,
                    "reason": p.reason,
                    "change_id": str(change.get("id")) if change else None,
                    "status": change.get("status") if change else None,
                }
            )
        except TridiumError as exc:  # refused, or today's key already used with other params: skip it
            results.append(
                {
                    "rule_id": str(p.rule_id),
                    "key": p.idempotency_key,
                    "reason": p.reason,
                    "change_id": None,
                    "status": "refused" if isinstance(exc, GuardrailViolated) else "skipped",
                    "error": str(exc),
                }
            )
    await conn.execute(
        "update ad_rules set last_evaluated_at = now() where tenant_id = $1 and id = any($2::uuid[])",
        tenant_id,
        [r.id for r in rules],
    )
    return results


__all__ = ["Campaign", "Proposal", "Rule", "evaluate", "idempotency_key", "parse_rule", "run_rules"]
