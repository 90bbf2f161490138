"""Lucy, ads ops: reads KPIs, events and ad insights, and manages campaigns through
``actors.tools_ads`` — every change with the guardrails of ``tools.ads.changes`` (caps,
step and per-day limits, a person's approval before anything goes live), whatever the
request says. The offline planner understands "pause a campanha X", "ative a campanha X",
"aumente/diminua o orçamento em N %" and "orçamento de R$ N"."""

from __future__ import annotations

import re

from .base import BaseAgent
from .guardrails import asks_for_system_prompt
from .planning import REFUSE_INTERNALS, Plan, Turn, recall


class Lucy(BaseAgent):
    name = "lucy"
    role = "Ads ops: acompanha KPIs, conversões por origem e campanha"
    default_prompt = (
        "Você é Lucy, analista de marketing. Responda perguntas sobre leads, vendas, pagamentos e conversões por "
        "origem ou campanha usando get_kpis e list_events; use apenas os números que as ferramentas retornarem. "
        "Para campanhas use list_campaigns, read_insights, create_campaign, set_campaign_status, change_budget e "
        "propose_plan: as regras de gasto e a aprovação por uma pessoa são aplicadas pelo sistema."
    )
    default_tools = (
        "get_kpis",
        "list_events",
        "record_conversion",
        "list_creatives",
        "ask_agent",
        "list_campaigns",
        "create_campaign",
        "set_campaign_status",
        "change_budget",
        "read_insights",
        "propose_plan",
    )

    def plan(self, turn: Turn) -> Plan:
        text = turn.user_input.lower()
        if asks_for_system_prompt(text) and not turn.outcomes:
            return Plan.say(REFUSE_INTERNALS)
        remembered = recall(turn)
        if remembered and not turn.outcomes:
            return Plan.say(remembered)
        ads = ad_commands(turn)
        if ads is not None:
            return ads
        if re.search(r"\beventos?\b", text):
            if turn.may("list_events"):
                kind = re.search(r"\b([a-z]+\.[a-z_]+)\b", text)
                return Plan.call("list_events", **({"type": kind.group(1)} if kind else {}), limit=20)
            done = turn.done("list_events")
            return Plan.say(str(done.result["summary"]) if done else "Não tenho acesso aos eventos.")
        if turn.may("get_kpis"):
            days = re.search(r"(\d{1,3})\s*dias", text)
            group = (
                "campaign" if re.search(r"campanha", text) else "creative" if re.search(r"criativ", text) else "source"
            )
            return Plan.call("get_kpis", group_by=group, days=int(days.group(1)) if days else 30)
        done = turn.done("get_kpis")
        if done is None:
            return Plan.say("Não tenho acesso aos indicadores.")
        groups = done.result.get("groups", [])
        text_out = str(done.result["summary"])
        key = done.result.get("group_by", "source")
        best = max(groups, key=lambda g: (g["conversion"], g["won"]), default=None)
        if best and best["won"]:
            text_out += f" Melhor conversão: {best[key]} ({best['won']} de {best['leads']} leads)."
        return Plan.say(text_out)


_AD_TOOLS = ("change_budget", "set_campaign_status", "list_campaigns", "read_insights")
_PAUSE = re.compile(r"\b(paus[ea]r?|pause|desativ\w*|suspend\w*)\b")
_ACTIVATE = re.compile(r"\b(ativ[ae]r?|ative|ligu?e|ligar|retom\w*|reativ\w*)\b")
_RAISE = re.compile(r"\b(aument\w*|sub[ai]\w*|elev\w*)\b")
_CUT = re.compile(r"\b(diminu\w*|reduz\w*|baix\w*|cort\w*)\b")
_PCT = re.compile(r"(\d{1,4}(?:[.,]\d+)?)\s*%")
_BRL = re.compile(r"r\$\s*(\d[\d.]*(?:,\d{1,2})?)")
_BUDGET = re.compile(r"or[cç]amento|verba")
_LIST = re.compile(
    r"\b(liste|listar|mostre|quais s[aã]o)\s+(as\s+)?(minhas\s+|nossas\s+)?campanhas\b|campanhas (ativas|pausadas)"
)
_NAME = re.compile(
    r"campanha\s+[\"“']?(?!de\b|em\b|para\b)([^\"”'.,;!?]+?)[\"”']?(?=\s+(?:e|para|em|no|na|com|de|por)\b|[.,;!?]|$)",
    re.IGNORECASE,
)


def _money_minor(raw: str) -> int:
    whole, _, frac = raw.replace(".", "").partition(",")
    return int(whole) * 100 + int((frac or "0").ljust(2, "0")[:2])


def ad_commands(turn: Turn) -> Plan | None:
    """Campaign commands as tool calls (``None``: not an ads command). The numbers asked for
    go to the tools as they are; the guardrails there decide what may happen."""
    text = turn.user_input.lower()
    name_match = _NAME.search(turn.user_input)
    campaign = name_match.group(1).strip() if name_match else None
    calls: list[tuple[str, dict[str, object]]] = []
    if _BUDGET.search(text):
        money = _BRL.search(text)
        pct = _PCT.search(text)
        if money:
            calls.append(("change_budget", {"campaign": campaign, "daily_budget_minor": _money_minor(money.group(1))}))
        elif pct and (_RAISE.search(text) or _CUT.search(text)):
            value = float(pct.group(1).replace(",", "."))
            calls.append(("change_budget", {"campaign": campaign, "percent": -value if _CUT.search(text) else value}))
    about_ads = bool(campaign or calls or "campanha" in text)
    if _PAUSE.search(text) and about_ads:
        calls.append(("set_campaign_status", {"campaign": campaign, "status": "paused"}))
    elif _ACTIVATE.search(text) and about_ads:
        calls.append(("set_campaign_status", {"campaign": campaign, "status": "active"}))
    if not calls:
        if _LIST.search(text) and turn.may("list_campaigns"):
            return Plan.call("list_campaigns")
        done = turn.done("list_campaigns")
        return Plan.say(str(done.result["summary"])) if done else None
    pending = [(n, a) for n, a in calls if turn.may(n)]
    if pending and len(pending) == len(calls):
        return Plan(calls=pending)
    said = [str(o.result.get("summary", "")) for o in turn.outcomes if o.name in _AD_TOOLS]
    if not said:
        return Plan.say("Não tenho acesso às campanhas de anúncio.")
    return Plan.say(" ".join(said))
