"""Lucy, ads ops: reads KPIs and events (leads, deals, payments per source/campaign) and
answers questions about them. Ads-platform actions come later."""

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
        "origem ou campanha usando get_kpis e list_events; use apenas os números que as ferramentas retornarem."
    )
    default_tools = ("get_kpis", "list_events", "record_conversion", "list_creatives", "ask_agent")

    def plan(self, turn: Turn) -> Plan:
        text = turn.user_input.lower()
        if asks_for_system_prompt(text) and not turn.outcomes:
            return Plan.say(REFUSE_INTERNALS)
        remembered = recall(turn)
        if remembered and not turn.outcomes:
            return Plan.say(remembered)
        if re.search(r"\beventos?\b", text):
            if turn.may("list_events"):
                kind = re.search(r"\b([a-z]+\.[a-z_]+)\b", text)
                return Plan.call("list_events", **({"type": kind.group(1)} if kind else {}), limit=20)
            done = turn.done("list_events")
            return Plan.say(str(done.result["summary"]) if done else "Não tenho acesso aos eventos.")
        if turn.may("get_kpis"):
            days = re.search(r"(\d{1,3})\s*dias", text)
            group = "campaign" if re.search(r"campanha", text) else "source"
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
