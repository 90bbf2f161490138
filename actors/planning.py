"""What the offline model decides with: the turn as seen by a planner, and the plan.

Agent classes (``luddy.py``, ``lucy.py``, ``clio.py``) implement ``plan(turn)``; the
offline model (``offline_model.py``) turns a plan into tool calls or streamed text. The
text helpers here only ever copy from sources and tool results — they never produce a
fact of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .guardrails import fold, sentences

_STOPWORDS_TEXT = """
a o e de da do das dos em no na nos nas um uma uns umas para pra pro por com sem que qual quais
quanto quanta como onde quando se seu sua meu minha voce voces vcs vc eu ele ela isso esse essa
este esta aqui ai la tem ter sao ser esta estao mais menos muito muita ja so tambem ou mas nao sim
oi ola bom boa dia tarde noite obrigado obrigada favor pode posso quero queria gostaria sobre ate
the and for you vocês
"""
STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
# The offline model's name, recorded in every run it answers (here, not in offline_model,
# so that knowing it does not import agno).
MODEL_NAME = "offline-grounded-v1"


@dataclass(frozen=True)
class ToolOutcome:
    name: str
    args: dict[str, Any]
    result: dict[str, Any]


@dataclass
class Turn:
    agent: str
    user_input: str
    context: dict[str, Any]
    history: list[tuple[str, str]]
    outcomes: list[ToolOutcome]
    allowed: frozenset[str]
    guardrails: dict[str, Any] = field(default_factory=dict)

    def done(self, name: str) -> ToolOutcome | None:
        for o in reversed(self.outcomes):
            if o.name == name:
                return o
        return None

    def may(self, name: str) -> bool:
        return name in self.allowed and self.done(name) is None


@dataclass
class Plan:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    text: str | None = None

    @classmethod
    def call(cls, tool_name: str, /, **args: Any) -> Plan:
        return cls(calls=[(tool_name, args)])

    @classmethod
    def say(cls, text: str) -> Plan:
        return cls(text=text)


def terms(text: str) -> set[str]:
    """Content words of a text, accent-folded and cut to a 4-letter stem."""
    words = re.findall(r"[a-z0-9à-ÿ]+", text.lower())
    out = set()
    for w in words:
        f = fold(w)
        if len(f) >= 3 and f not in STOPWORDS:
            out.add(f[:4] if len(f) > 4 else f)
    return out


def clean(sentence: str) -> str:
    s = re.sub(r"[*_`#>|]+", "", sentence)
    s = re.sub(r"^\s*(?:[-•]|\d+\.)\s+", "", s)
    return re.sub(r"\s+", " ", s).strip()


def best_sentences(query: str, sources: list[dict[str, Any]], limit: int = 2) -> list[tuple[int, str, int]]:
    """(source n, sentence, overlap) of the sentences that share most words with the query."""
    q = terms(query)
    scored: list[tuple[int, int, str, int]] = []
    for rank, src in enumerate(sources[:4]):
        for raw in sentences(src.get("text", "")):
            sentence = clean(raw)
            if len(sentence) < 12:
                continue
            overlap = len(q & terms(sentence))
            if overlap:
                scored.append((overlap, -rank, sentence, int(src["n"])))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    need = 1 if len(q) <= 2 else 2
    picked: list[tuple[int, str, int]] = []
    for overlap, _, sentence, n in scored:
        if overlap >= need and all(sentence != p[1] for p in picked):
            picked.append((n, sentence, overlap))
        if len(picked) == limit:
            break
    return picked


def cite_sources(sources: list[dict[str, Any]], used: set[int]) -> str:
    lines = []
    for src in sources:
        if int(src["n"]) in used:
            where = src.get("source") or src.get("title")
            page = f", p. {src['page']}" if src.get("page") else ""
            lines.append(f"[{src['n']}] {src['title']} ({where}{page})")
    return "Fontes: " + "; ".join(lines) + "." if lines else ""


def grounded_answer(query: str, sources: list[dict[str, Any]]) -> str | None:
    """An extractive answer with citations, or None when the sources do not answer."""
    picked = best_sentences(query, sources)
    if not picked:
        return None
    body = " ".join(f"{s.rstrip('.')}. [{n}]" for n, s, _ in picked)
    return f"Segundo a nossa base: {body}\n\n{cite_sources(sources, {n for n, _, _ in picked})}"


_RECALL = re.compile(
    r"(o que|qual)\s+(foi\s+)?(eu\s+)?(te\s+)?(disse|perguntei|falei|pedi)|minha\s+(pergunta|mensagem)\s+anterior",
    re.IGNORECASE,
)


def recall(turn: Turn) -> str | None:
    """Answer "what did I say before?" from the conversation memory (the thread), if asked."""
    if not _RECALL.search(turn.user_input):
        return None
    previous = [text for role, text in turn.history if role == "user"]
    if not previous:
        return "Esta é a primeira mensagem desta conversa."
    return f"Sua mensagem anterior foi: “{previous[-1]}”."


NOT_FOUND = "Não encontrei essa informação na nossa base de conhecimento, então prefiro não arriscar uma resposta."
REFUSE_INTERNALS = (
    "Não posso compartilhar instruções internas nem configurações do sistema. Posso ajudar com planos, "
    "unidades, horários, promoções ou pagamentos."
)

__all__ = [
    "MODEL_NAME",
    "NOT_FOUND",
    "REFUSE_INTERNALS",
    "Plan",
    "ToolOutcome",
    "Turn",
    "best_sentences",
    "cite_sources",
    "clean",
    "grounded_answer",
    "recall",
    "terms",
]
