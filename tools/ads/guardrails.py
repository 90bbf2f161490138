"""Lucy's spend guardrails, in code: pure functions over a policy, the change asked for and
a snapshot of the tenant's spend. No I/O here; ``tools.ads.changes`` reads the snapshot
under a per-tenant lock and calls ``evaluate`` when a change is proposed and again right
before it is applied (the world may have moved in between).

The policy (``ad_policies``, money in minor units of BRL):

* **daily cap** — the sum of the daily budgets of everything ACTIVE (campaigns and ad sets
  with a budget), after the change, must not exceed ``daily_cap_minor``. Without a daily
  cap (0) nothing may start spending or spend more: a tenant sets its cap first.
* **monthly cap** — spend so far this month (synced insights, days before today) plus the
  active daily total after the change for every day left (today included) must not exceed
  ``monthly_cap_minor``; 0 means no monthly cap beyond the daily one.
* **step** — one budget raise may add at most ``max_step_pct`` (default 20 %) of the
  current budget.
* **per day** — the raises of one object during one day (São Paulo time; approved,
  applying and applied changes from the ``ad_changes`` audit, plus this one) may add at most
  ``max_daily_change_pct`` (default 40 %) of its budget at the start of that day.
* **approval** — anything that makes an object ACTIVE or raises a budget waits for a
  person's approval (``needs_approval``). Pausing, archiving, lowering a budget and creating
  objects (always PAUSED on the platform) lower or keep spend and apply at once.

Cuts are never limited: a stop-loss must always be able to act.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

SPEND_KINDS = frozenset({"set_status", "set_budget"})
CREATE_KINDS = frozenset({"create_campaign", "create_adset", "create_ad", "publish_creative"})


@dataclass(frozen=True, slots=True)
class Policy:
    daily_cap_minor: int = 0
    monthly_cap_minor: int = 0
    max_step_pct: Decimal = Decimal(20)
    max_daily_change_pct: Decimal = Decimal(40)

    def as_dict(self) -> dict[str, Any]:
        return {
            "daily_cap_minor": self.daily_cap_minor,
            "monthly_cap_minor": self.monthly_cap_minor,
            "max_step_pct": float(self.max_step_pct),
            "max_daily_change_pct": float(self.max_daily_change_pct),
        }


@dataclass(frozen=True, slots=True)
class ObjectState:
    """The object a change targets, as we last knew it (``ad_objects``)."""

    status: str
    daily_budget_minor: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The tenant's spend picture, read under the tenant's ads lock."""

    today: date  # in America/Sao_Paulo
    other_active_daily_minor: int = 0  # active daily budgets of every object but the target
    month_spend_minor: int = 0  # this month, days before today
    day_start_budget_minor: int | None = None  # the target's budget before today's first change
    day_raised_minor: int = 0  # raises already approved/applied today on the target

    @property
    def days_left(self) -> int:
        last = calendar.monthrange(self.today.year, self.today.month)[1]
        return last - self.today.day + 1


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # no_daily_cap | daily_cap | monthly_cap | max_step | max_daily_change | unknown_budget
    message: str
    limit: int | float | None = None
    asked: int | float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message, "limit": self.limit, "asked": self.asked}


@dataclass(frozen=True, slots=True)
class Verdict:
    needs_approval: bool
    violations: tuple[Violation, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.violations

    def reason(self) -> str:
        return "; ".join(v.message for v in self.violations)


def brl(minor: int | float) -> str:
    whole, frac = divmod(round(minor), 100)
    return f"R$ {whole:,}".replace(",", ".") + f",{frac:02d}"


def _pct(x: Decimal) -> str:
    return f"{x.normalize():f} %"


def needs_approval(kind: str, before: ObjectState | None, params: dict[str, Any]) -> bool:
    """Activation and raises wait for a person; everything that lowers or keeps spend does not."""
    if kind == "set_status":
        return params.get("status") == "active" and (before is None or before.status != "active")
    if kind == "set_budget":
        current = before.daily_budget_minor if before else None
        return current is None or int(params["daily_budget_minor"]) > current
    return False


def evaluate(policy: Policy, kind: str, params: dict[str, Any], before: ObjectState | None, snap: Snapshot) -> Verdict:
    """The guardrails for one change; ``params`` are already validated for ``kind``."""
    approval = needs_approval(kind, before, params)
    violations: list[Violation] = []
    if kind in CREATE_KINDS:
        budget = params.get("daily_budget_minor")
        if budget is not None and policy.daily_cap_minor and int(budget) > policy.daily_cap_minor:
            violations.append(
                Violation(
                    "daily_cap",
                    f"o orçamento diário pedido ({brl(budget)}) passa do teto diário da empresa "
                    f"({brl(policy.daily_cap_minor)}): a campanha nunca poderia ser ativada",
                    policy.daily_cap_minor,
                    int(budget),
                )
            )
        return Verdict(approval, tuple(violations))
    if kind not in SPEND_KINDS or before is None:
        return Verdict(approval, ())

    current = before.daily_budget_minor
    new_budget = int(params["daily_budget_minor"]) if kind == "set_budget" else current
    new_status = str(params["status"]) if kind == "set_status" else before.status

    if kind == "set_budget" and current is None:
        violations.append(
            Violation("unknown_budget", "o orçamento atual deste objeto é desconhecido: não dá para medir o aumento")
        )
    if kind == "set_budget" and current and new_budget is not None and new_budget > current:
        raise_minor = new_budget - current
        step_limit = Decimal(current) * policy.max_step_pct / 100
        if raise_minor > step_limit:
            violations.append(
                Violation(
                    "max_step",
                    f"aumento de {brl(raise_minor)} ({_pct(Decimal(raise_minor) * 100 / current)}) passa do "
                    f"máximo por passo de {_pct(policy.max_step_pct)} (até {brl(current + int(step_limit))})",
                    current + int(step_limit),
                    new_budget,
                )
            )
        start = snap.day_start_budget_minor or current
        day_limit = Decimal(start) * policy.max_daily_change_pct / 100
        if snap.day_raised_minor + raise_minor > day_limit:
            violations.append(
                Violation(
                    "max_daily_change",
                    f"com os aumentos de hoje ({brl(snap.day_raised_minor + raise_minor)} sobre {brl(start)}) "
                    f"passa do máximo diário de {_pct(policy.max_daily_change_pct)}",
                    int(day_limit),
                    snap.day_raised_minor + raise_minor,
                )
            )

    spends_more = (new_status == "active") and (before.status != "active" or (new_budget or 0) > (current or 0))
    if spends_more:
        total = snap.other_active_daily_minor + (new_budget or 0)
        if policy.daily_cap_minor <= 0:
            violations.append(
                Violation(
                    "no_daily_cap",
                    "a empresa não tem teto diário de gasto configurado (PUT /admin/ads/policy): nada pode ser "
                    "ativado nem aumentado",
                    0,
                    total,
                )
            )
        elif total > policy.daily_cap_minor:
            violations.append(
                Violation(
                    "daily_cap",
                    f"o gasto diário ativo ficaria em {brl(total)}, acima do teto diário de "
                    f"{brl(policy.daily_cap_minor)}",
                    policy.daily_cap_minor,
                    total,
                )
            )
        if policy.monthly_cap_minor > 0:
            projected = snap.month_spend_minor + total * snap.days_left
            if projected > policy.monthly_cap_minor:
                violations.append(
                    Violation(
                        "monthly_cap",
                        f"o gasto projetado do mês ficaria em {brl(projected)} ({brl(snap.month_spend_minor)} já "
                        f"gastos + {brl(total)} por dia durante {snap.days_left} dia(s)), acima do teto mensal de "
                        f"{brl(policy.monthly_cap_minor)}",
                        policy.monthly_cap_minor,
                        projected,
                    )
                )
    return Verdict(approval, tuple(violations))


def max_allowed_budget(policy: Policy, before: ObjectState, snap: Snapshot) -> int:
    """The largest budget one step may set now (for messages such as "até R$ 120,00")."""
    current = before.daily_budget_minor or 0
    step = int(Decimal(current) * policy.max_step_pct / 100)
    start = snap.day_start_budget_minor or current
    day_left = max(0, int(Decimal(start) * policy.max_daily_change_pct / 100) - snap.day_raised_minor)
    best = current + min(step, day_left)
    if before.status == "active" and policy.daily_cap_minor:
        best = min(best, max(current, policy.daily_cap_minor - snap.other_active_daily_minor))
    return best


__all__ = [
    "CREATE_KINDS",
    "SPEND_KINDS",
    "ObjectState",
    "Policy",
    "Snapshot",
    "Verdict",
    "Violation",
    "brl",
    "evaluate",
    "max_allowed_budget",
    "needs_approval",
]
