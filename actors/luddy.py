"""Luddy, the SDR: answers from the knowledge base with sources, qualifies, creates leads
and deals, offers checkout when the customer wants to buy, hands over to a human."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from .answering import Message, answer, asks_for_name, greet, read_message, remembered_name
from .base import BaseAgent
from .guardrails import asks_for_system_prompt, is_angry, wants_human
from .planning import NOT_FOUND, REFUSE_INTERNALS, Plan, Turn, grounded_answer, recall
from .tools import _BUY, HANDOFF_TEXT

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
_PHONE = re.compile(r"\(?\d{2}\)?\s?9?\d{4}[-\s]?\d{4}")
# The answerer before issue 9, kept selectable (guardrail ``answerer``) so bench/answers.py
# can measure old and new on the same index in one run.
LEGACY_ANSWERER = "legacy-v1"


class Luddy(BaseAgent):
    name = "luddy"
    role = "SDR: atende clientes 24/7, qualifica, fecha e passa para humano quando preciso"
    default_prompt = (
        "Você é Luddy, atendente da empresa. Responda dúvidas usando a base de conhecimento (kb_search) e cite "
        "as fontes. Qualifique o cliente, registre lead e negociação, ofereça o pagamento quando ele quiser "
        "comprar e transfira para uma pessoa quando ele pedir, estiver irritado ou você não tiver certeza."
    )
    default_tools = (
        "kb_search",
        "qualify_lead",
        "upsert_lead",
        "upsert_deal",
        "create_checkout",
        "handoff_to_human",
        "send_followup",
        "ask_agent",
    )
    default_guardrails: ClassVar[dict[str, Any]] = {"handoff_on_low_confidence": True}

    def plan(self, turn: Turn) -> Plan:
        if turn.guardrails.get("answerer") == LEGACY_ANSWERER:
            return self._plan_legacy(turn)
        text = turn.user_input
        if not turn.outcomes:
            if asks_for_system_prompt(text):
                return Plan.say(REFUSE_INTERNALS)
            if asks_for_name(text):
                name = remembered_name(turn.history) or turn.context.get("name")
                if name:
                    return Plan.say(f"Seu nome é {name}.")
                return Plan.say("Você ainda não me disse seu nome nesta conversa. Como você se chama?")
            remembered = recall(turn)
            if remembered:
                return Plan.say(remembered)
        # Handover only when the customer asks for a person (or is angry) ...
        if wants_human(text) or is_angry(text):
            if turn.may("handoff_to_human"):
                return Plan.call("handoff_to_human", reason="requested" if wants_human(text) else "anger")
            return Plan.say(f"Entendi. {HANDOFF_TEXT}" if turn.done("handoff_to_human") else NOT_FOUND)
        msg = read_message(text)
        buying = bool(re.search(_BUY, text, re.IGNORECASE))
        if buying or _EMAIL.search(text) or _PHONE.search(text):
            return self._sales(turn, buying=buying, name=msg.name)
        if not msg.question:
            # A greeting or a name and nothing to look up: greet (by name), never hand over.
            return Plan.say(f"{greet(msg.name)} Como posso ajudar?")
        return self._answer(turn, msg)

    def _answer(self, turn: Turn, msg: Message) -> Plan:
        # ... or when nothing relevant is found in the knowledge base.
        if turn.may("kb_search"):
            return Plan.call("kb_search", query=msg.question[:500], k=6)
        found = turn.done("kb_search")
        text = answer(msg.question, found.result.get("sources", [])) if found else None
        hello = f"{greet(msg.name)} " if msg.name else ""
        if text:
            return Plan.say(hello + text)
        if turn.guardrails.get("handoff_on_low_confidence", True) and turn.may("handoff_to_human"):
            return Plan.call("handoff_to_human", reason="low_confidence")
        if turn.done("handoff_to_human"):
            return Plan.say(f"{hello}{NOT_FOUND} {HANDOFF_TEXT}")
        return Plan.say(hello + NOT_FOUND)

    def _plan_legacy(self, turn: Turn) -> Plan:
        """The decisions and answerer as they were before issue 9 (for the benchmark's baseline)."""
        text = turn.user_input
        if asks_for_system_prompt(text) and not turn.outcomes:
            return Plan.say(REFUSE_INTERNALS)
        remembered = recall(turn)
        if remembered and not turn.outcomes:
            return Plan.say(remembered)
        if wants_human(text) or is_angry(text):
            if turn.may("handoff_to_human"):
                return Plan.call("handoff_to_human", reason="requested" if wants_human(text) else "anger")
            return Plan.say(f"Entendi. {HANDOFF_TEXT}" if turn.done("handoff_to_human") else NOT_FOUND)
        if re.search(_BUY, text, re.IGNORECASE) or _EMAIL.search(text) or _PHONE.search(text):
            return self._sales(turn, buying=bool(re.search(_BUY, text, re.IGNORECASE)))
        if turn.may("kb_search"):
            return Plan.call("kb_search", query=turn.user_input[:500], k=4)
        found = turn.done("kb_search")
        grounded = grounded_answer(turn.user_input, found.result.get("sources", [])) if found else None
        if grounded:
            return Plan.say(grounded)
        if turn.guardrails.get("handoff_on_low_confidence", True) and turn.may("handoff_to_human"):
            return Plan.call("handoff_to_human", reason="low_confidence")
        if turn.done("handoff_to_human"):
            return Plan.say(f"{NOT_FOUND} {HANDOFF_TEXT}")
        return Plan.say(NOT_FOUND)

    def _sales(self, turn: Turn, *, buying: bool, name: str | None = None) -> Plan:
        ctx = turn.context
        if turn.may("qualify_lead"):
            return Plan.call("qualify_lead")
        q = turn.done("qualify_lead")
        quali = q.result if q else {}
        if turn.may("upsert_lead"):
            email = _EMAIL.search(turn.user_input)
            phone = _PHONE.search(turn.user_input)
            args: dict[str, Any] = {
                "name": name or ctx.get("name"),
                "email": email.group(0) if email else None,
                "phone": phone.group(0) if phone else None,
                "source": ctx.get("source"),
                "campaign": ctx.get("campaign"),
                "score": quali.get("score"),
                "stage": quali.get("stage"),
                "explanation": quali.get("explanation"),
            }
            return Plan.call("upsert_lead", **{k: v for k, v in args.items() if v is not None})
        if buying and turn.may("upsert_deal"):
            return Plan.call("upsert_deal", title=str(ctx.get("plan") or "Interesse de compra")[:200])
        if buying and turn.may("create_checkout"):
            deal = turn.done("upsert_deal")
            deal_id = deal.result.get("deal_id") if deal else None
            return Plan.call(
                "create_checkout", **({"deal_id": deal_id} if deal_id else {}), method=ctx.get("method", "pix")
            )
        parts = []
        if quali:
            parts.append(f"Registrei seu interesse (pontuação {quali['score']}/100, estágio {quali['stage']}).")
        checkout = turn.done("create_checkout")
        if checkout:
            parts.append(str(checkout.result.get("summary", "")))
        elif buying:
            parts.append("Uma pessoa da equipe vai enviar as opções de pagamento.")
        else:
            parts.append("Obrigado pelos dados! Como posso ajudar?")
        return Plan.say(" ".join(p for p in parts if p))
