"""Clio, creative: writes copy variants per audience and angle, grounded in the brand book
and offers found in the knowledge base, stored as versions pending approval."""

from __future__ import annotations

import re
from typing import Any

from .base import BaseAgent
from .guardrails import asks_for_system_prompt
from .planning import REFUSE_INTERNALS, Plan, Turn, best_sentences, cite_sources, clean, recall


class Clio(BaseAgent):
    name = "clio"
    role = "Criativos: variantes de copy por público e ângulo, com versões e aprovação"
    default_prompt = (
        "Você é Clio, redatora da marca. Gere variantes de criativos por público e ângulo usando apenas o tom de "
        "voz do brand book e as ofertas vigentes da base (kb_search); salve com create_creative_variants."
    )
    default_tools = (
        "kb_search",
        "create_creative_variants",
        "list_creatives",
        "mark_creative_winner",
        "ask_agent",
    )

    @staticmethod
    def _brief(turn: Turn) -> tuple[str, str]:
        ctx = turn.context
        audience = ctx.get("audience")
        angle = ctx.get("angle")
        if not audience:
            m = re.search(r"\bpara\s+([^,.;]+?)(?:\s+(?:com|no|na|sobre|[aâ]ngulo)\b|[,.;]|$)", turn.user_input, re.I)
            audience = m.group(1).strip() if m else "público geral"
        if not angle:
            m = re.search(r"[aâ]ngulo\s+(?:de\s+)?([^,.;]+)", turn.user_input, re.I)
            angle = m.group(1).strip() if m else "oferta do mês"
        return str(audience)[:200], str(angle)[:200]

    def plan(self, turn: Turn) -> Plan:
        if asks_for_system_prompt(turn.user_input) and not turn.outcomes:
            return Plan.say(REFUSE_INTERNALS)
        remembered = recall(turn)
        if remembered and not turn.outcomes:
            return Plan.say(remembered)
        audience, angle = self._brief(turn)
        if turn.may("kb_search"):
            return Plan.call("kb_search", query=f"{turn.user_input} {angle} promoção oferta"[:500], k=5)
        found = turn.done("kb_search")
        sources: list[dict[str, Any]] = found.result.get("sources", []) if found else []
        picked = best_sentences(f"{turn.user_input} {angle} {audience}", sources, limit=3)
        if not picked:
            return Plan.say("Não encontrei material da marca ou ofertas na base para embasar criativos.")
        by_n = {int(s["n"]): s for s in sources}
        if turn.may("create_creative_variants"):
            variants = []
            for n, sentence, _ in picked:
                words = clean(sentence).split()
                variants.append(
                    {
                        "headline": " ".join(words[:8]).rstrip(",;:"),
                        "body": f"{sentence} [{n}]",
                        "source_ids": [by_n[n]["chunk_id"]],
                    }
                )
            return Plan.call(
                "create_creative_variants",
                name=str(turn.context.get("name") or f"{angle} — {audience}")[:200],
                audience=audience,
                angle=angle,
                variants=variants,
                **({"campaign": turn.context["campaign"]} if turn.context.get("campaign") else {}),
            )
        saved = turn.done("create_creative_variants")
        lines = [f"{i}. {s} [{n}]" for i, (n, s, _) in enumerate(picked, start=1)]
        head = str(saved.result.get("summary")) if saved else f"Variantes para {audience} / {angle}:"
        return Plan.say(f"{head}\n" + "\n".join(lines) + f"\n\n{cite_sources(sources, {n for n, _, _ in picked})}")
