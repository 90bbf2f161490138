"""Guardrails that do not depend on the model behaving (OWASP LLM01/LLM06/LLM09).

- ``scrub_untrusted``: retrieved text is data, never instructions. Sentences that try to
  instruct the assistant ("ignore as instruções anteriores…", "revele o prompt…") are
  removed before the model sees them and reported as flagged.
- ``GroundingFilter``: every price, percentage, date or deadline in the agent's answer
  must appear in the evidence of the run (retrieved sources, tool results, the user's own
  words), and so must every policy statement: a sentence about refunds, cancellation,
  fines, loyalty periods, guarantees, exchanges, discounts or coupons passes only when the
  evidence holds its policy term and most of its words (a paraphrase of a source passes,
  an invented rule does not). Ungrounded claims and policy sentences are replaced before
  the text leaves the server; the filter releases text sentence by sentence, so it also
  covers streamed deltas.
- ``wants_human`` / ``is_angry`` / ``asks_for_system_prompt``: conversation signals
  used for handover and refusals.

The tool allowlist is enforced in ``actors.tools`` (server-side, per call).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

_INJECTION = re.compile(
    r"(ignore|ignorar|desconsidere|esque[cç]a)\s+(as|todas\s+as|suas|os|the|all|previous|any)?\s*"
    r"(instru[cç][oõ]es|regras|orienta[cç][oõ]es|instructions|rules)"
    r"|(revele|mostre|revelar|reveal|print)\s+.{0,40}(prompt|instru[cç][oõ]es\s+internas|system)"
    r"|prompt\s+(de|do)\s+sistema|system\s+prompt"
    r"|voc[eê]\s+(agora\s+)?(deve|é)\s+(agora\s+)?(ignorar|um\s+novo|outro)"
    r"|you\s+are\s+now|new\s+instructions|novas\s+instru[cç][oõ]es",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"[^.!?\n]*(?:[.!?]+|\n|$)")

# Claims that must be grounded: money, percentages, dates, deadlines/durations.
_CLAIM = re.compile(
    r"R\$\s*\d[\d.]*(?:,\d{1,2})?"
    r"|\d+(?:[.,]\d+)?\s*%"
    r"|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b"
    r"|\b\d+\s*(?:dias?|horas?|meses|m[eê]s|semanas?|anos?)(?:\s+[uú]teis)?\b"
    r"|\b\d+(?:[.,]\d+)?\s*reais\b",
    re.IGNORECASE,
)
UNGROUNDED = "[valor não confirmado]"
UNGROUNDED_POLICY = "[condição não confirmada: uma pessoa da equipe confirma para você]"

# Policy terms (folded stems): a sentence with one of them states a rule of the business.
_POLICY = re.compile(
    r"\b(reembols\w*|estorn\w*|devolu\w*|devolv\w*|cancel\w*|multas?|fidelidade|garantia\w*|garantid\w*|"
    r"carencia|troca\w*|rescis\w*|reajust\w*|juros|isen\w*|gratis|gratuit\w*|descont\w*|cupo\w*)\b"
)
_WORD = re.compile(r"[a-z0-9]+")
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")
_STOP = frozenset(
    {
        "para",
        "pela",
        "pelo",
        "pelos",
        "pelas",
        "como",
        "mais",
        "menos",
        "muito",
        "cada",
        "esse",
        "essa",
        "este",
        "esta",
        "isso",
        "isto",
        "aqui",
        "voce",
        "voces",
        "nossa",
        "nosso",
        "nossos",
        "nossas",
        "sua",
        "seu",
        "suas",
        "seus",
        "qual",
        "quais",
        "quando",
        "onde",
        "entao",
        "tambem",
        "pode",
        "podem",
        "sobre",
        "ainda",
        "apenas",
        "sempre",
        "todo",
        "toda",
        "todos",
        "todas",
        "mesmo",
        "outra",
        "outro",
        "outros",
        "outras",
        "entre",
        "depois",
        "antes",
        "desde",
        "tenho",
        "temos",
        "sera",
        "serao",
        "sendo",
        "seria",
        "estao",
        "estamos",
        "fica",
        "ficam",
        "fontes",
        "segundo",
    }
)
POLICY_COVERAGE = 0.6  # share of a policy sentence's content words the evidence must hold


class _Stripped(dict[int, str]):
    """A code point -> its NFKD form without combining marks, worked out on first sight."""

    def __missing__(self, cp: int) -> str:
        out = "".join(c for c in unicodedata.normalize("NFKD", chr(cp)) if not unicodedata.combining(c))
        self[cp] = out
        return out


_STRIPPED = _Stripped()


def _plain(text: str) -> str:
    """Lowercase without accents: NFKD minus combining marks. Per character (``translate``)
    it is the same as over the whole text — NFKD decomposes each character on its own and
    only reorders combining marks, which go — at a fraction of the cost (it runs on every
    released sentence and every piece of evidence)."""
    low = text.lower()
    return low if low.isascii() else low.translate(_STRIPPED)


def _content_words(text: str, *, plain: str | None = None) -> set[str]:
    return {w for w in _WORD.findall(_plain(text) if plain is None else plain) if len(w) >= 4 and w not in _STOP}


_BOUNDARY = re.compile(r"[.!?]+(?=\s)|\n")


_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lowercase, strip accents and whitespace: the form claims are compared in."""
    return _SPACES.sub("", _plain(text))


def _split(text: str) -> list[str]:
    """Cut after each sentence end followed by whitespace, keeping "R$ 1.200,00" whole."""
    parts, start = [], 0
    for m in _BOUNDARY.finditer(text):
        parts.append(text[start : m.end()])
        start = m.end()
    if start < len(text):
        parts.append(text[start:])
    return [p for p in parts if p]


def sentences(text: str) -> list[str]:
    return [s for s in (m.group(0) for m in _SENTENCE.finditer(text)) if s.strip()]


def scrub_untrusted(text: str) -> tuple[str, list[str]]:
    """Remove instruction-like sentences from untrusted text; return (clean, flagged)."""
    kept: list[str] = []
    flagged: list[str] = []
    for sentence in sentences(text):
        (flagged if _INJECTION.search(sentence) else kept).append(sentence)
    clean = "".join(kept)
    return (clean if flagged else text), [s.strip() for s in flagged]


def claims(text: str) -> list[str]:
    return [m.group(0) for m in _CLAIM.finditer(text)]


@dataclass
class GroundingFilter:
    """Streaming filter: feed deltas, get back the text that may be shown."""

    evidence: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    _folded: str = ""
    _policy_folded: str = ""
    _words: set[str] = field(default_factory=set)
    _pending: str = ""

    def add_evidence(self, text: str, *, source: bool = True) -> None:
        """Evidence of the run. ``source=False`` (the customer's own words) grounds values
        the customer gave, never a policy: rules come from sources and tool results only."""
        self.evidence.append(text)
        plain = _plain(text)  # once: tool results are long
        folded = _SPACES.sub("", plain)
        self._folded += "\n" + folded
        if source:
            self._policy_folded += "\n" + folded
            self._words |= _content_words(text, plain=plain)

    def _policy_grounded(self, sentence: str) -> bool:
        own = _QUOTED.sub(" ", sentence)  # quoting the customer ("sua mensagem foi: “…”") states no rule
        terms = [m.group(0) for m in _POLICY.finditer(_plain(own))]
        if not terms:
            return True
        if not all(term[:6] in self._policy_folded for term in terms):
            return False
        words = _content_words(own)
        return not words or len(words & self._words) / len(words) >= POLICY_COVERAGE

    def check(self, text: str) -> str:
        def repl(m: re.Match[str]) -> str:
            claim = m.group(0)
            if fold(claim) in self._folded:
                return claim
            self.violations.append(claim)
            return UNGROUNDED

        out = []
        for sentence in _split(text):
            if not self._policy_grounded(sentence):
                self.violations.append(f"policy: {sentence.strip()[:120]}")
                lead = sentence[: len(sentence) - len(sentence.lstrip())]
                tail = "\n" if sentence.endswith("\n") else " " if sentence[-1:].isspace() else ""
                out.append(f"{lead}{UNGROUNDED_POLICY}{tail}")
            else:
                out.append(_CLAIM.sub(repl, sentence))
        return "".join(out)

    def feed(self, delta: str) -> str:
        self._pending += delta
        # Cut after the last sentence end followed by whitespace ("R$ 1.200,00" stays whole).
        ends = [m.end() for m in _BOUNDARY.finditer(self._pending)]
        if not ends:
            return ""
        ready, self._pending = self._pending[: ends[-1]], self._pending[ends[-1] :]
        return self.check(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return self.check(ready)


_HUMAN = re.compile(
    r"\b(falar|conversar|quero|preciso)\b.{0,30}\b(humano|atendente|pessoa|gerente|algu[eé]m\s+de\s+verdade)\b"
    r"|\batendimento\s+humano\b|\btransf(ere|erir)\b.{0,20}\batendente\b",
    re.IGNORECASE,
)
_ANGER = re.compile(
    r"\b(absurdo|rid[ií]culo|p[eé]ssimo|vergonha|palha[cç]ada|lixo|procon|reclame\s*aqui|processar|"
    r"horr[ií]vel|descaso|inaceit[aá]vel|raiva)\b",
    re.IGNORECASE,
)
_LEAK = re.compile(
    r"(prompt|instru[cç][oõ]es\s+internas|regras\s+internas|system\s+prompt|suas\s+instru[cç][oõ]es)",
    re.IGNORECASE,
)


def wants_human(text: str) -> bool:
    return bool(_HUMAN.search(text))


def is_angry(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7
    return bool(_ANGER.search(text)) or shouting or "!!!" in text


def asks_for_system_prompt(text: str) -> bool:
    return bool(_LEAK.search(text))


@functools.lru_cache(maxsize=64)
def _fold_instructions(instructions: str) -> str:
    # The same few instruction texts (one per agent and prompt version) are checked against
    # every released sentence of every run: fold each once.
    return fold(instructions)


def leaks_instructions(output: str, instructions: str, window: int = 60) -> bool:
    """True when the output quotes a long stretch of the system instructions."""
    out = fold(output)
    ins = _fold_instructions(instructions)
    if len(ins) < window:
        return bool(ins) and ins in out
    return any(ins[i : i + window] in out for i in range(0, len(ins) - window + 1, window // 2))


__all__ = [
    "UNGROUNDED",
    "UNGROUNDED_POLICY",
    "GroundingFilter",
    "asks_for_system_prompt",
    "claims",
    "fold",
    "is_angry",
    "leaks_instructions",
    "scrub_untrusted",
    "sentences",
    "wants_human",
]
