"""The offline answerer: extractive answers that answer the question (issue 9).

It never writes a fact of its own. It cuts the retrieved chunks into units (sentences, list
items, table rows — a row carries its column headers), and ranks them by what the question
asks for:

- *what* the question is about: its content words, weighted by how rare they are among the
  retrieved units (a word every unit has says little), plus the heading a unit sits under;
- *which value* it asks for (``asked``): a price for "quanto custa / preço / valor", a date
  or weekday for "quando / que dia", a clock time for "que horas / horário", a duration for
  "por quanto tempo / prazo / carência", a count for "quantos / mínimo / máximo", a
  percentage for "desconto / %". A unit holding a value of the asked kind is preferred; one
  without it is pushed down; a heading is never an answer.

A two-part question ("quanto custa X e qual a carência de Y?") is cut into its parts and
each part gets its own best unit, from whichever source holds it. Every unit keeps its
source number, and the answer ends with the sources it used.

The module also reads the conversational parts of a message: a greeting, a customer who
gives a name ("meu nome é …", "me chamo …", "aqui é a …"), and a question asking for that
name later in the thread (answered from the thread's history, i.e. thread memory).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from .guardrails import fold
from .planning import STOPWORDS, cite_sources, terms

MIN_COVERAGE = 0.25  # share of the question's (weighted) words a unit must hold to answer it

# What a question asks for (on accent-folded, lowercased text).
_ASKS: dict[str, re.Pattern[str]] = {
    "price": re.compile(
        r"\bquanto\s+(?:custa|custam|sai|saem|fica|ficam|e|eh|ta|esta|pago|cobra\w*)\b|\bqnto\b"
        r"|\bpre[cç]os?\b|\bvalor(?:es)?\b|\bcusto\b|\bcusta\b|\bmensalidade\b|\btaxa\b|\btarifa\b|\bdiaria\b|r\$"
    ),
    "date": re.compile(
        r"\bquando\b|\b(?:que|qual|em\s+que)\s+dias?\b|\bdata\b|\bdia\s+do\s+mes\b|\bate\s+quando\b"
        r"|\bvence\w*\b|\babre\w*\s+(?:no|aos?|em)\b|\bfunciona\w*\s+(?:no|aos?)\b|\bdomingos?\b|\bsabados?\b"
        r"|\bferiados?\b|\bdias\s+da\s+semana\b"
    ),
    "time": re.compile(r"\b(?:que|quais|qual)\s+(?:o\s+)?(?:horas?|horarios?)\b|\bhorarios?\b|\bate\s+que\s+horas\b"),
    "duration": re.compile(
        r"\bquanto\s+tempo\b|\bprazo\b|\bdemora\w*\b|\bdura\w*\b|\bcarencia\b|\bvalidade\b|\bantecedencia\b"
        r"|\bem\s+quantos\s+(?:dias|meses|horas)\b|\bquantos\s+(?:dias|meses|horas|minutos|anos)\b"
    ),
    "count": re.compile(r"\bquant[oa]s\b|\bminimo\b|\bmaximo\b|\blimite\b|\bparcel\w*\b|\bvezes\b"),
    "percent": re.compile(r"\bdesconto\b|\bporcentagem\b|\bpercentual\b|%|\bquanto\s+(?:aumentou|caiu|subiu)\b"),
}

# Values a unit can hold (on the unit's original text).
_WEEKDAYS = r"segunda|ter[cç]a|quarta|quinta|sexta|s[aá]bado|domingo"
_MONTHS = r"janeiro|fevereiro|mar[cç]o|abril|maio|junho|julho|agosto|setembro|outubro|novembro|dezembro"
_VALUES: dict[str, re.Pattern[str]] = {
    "price": re.compile(r"R\$\s*\d|\bsem\s+custo\b|\bgr[aá]tis\b|\bgratuit[ao]s?\b|\bisent[ao]s?\b", re.IGNORECASE),
    "date": re.compile(
        rf"\b\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?\b|\bdia\s+\d{{1,2}}\b|\b(?:{_WEEKDAYS})s?(?:-feira)?s?\b"
        rf"|\b\d{{1,2}}\s+de\s+(?:{_MONTHS})\b|\bferiados?\b|\bfechad[ao]s?\b",
        re.IGNORECASE,
    ),
    "time": re.compile(r"\b\d{1,2}h(?:\d{2})?\b|\b\d{1,2}:\d{2}\b|\b24\s+horas\b", re.IGNORECASE),
    "duration": re.compile(
        r"\b\d+\s*(?:minutos?|horas?|dias?|semanas?|meses|m[eê]s|anos?)\b|\bsem\s+car[eê]ncia\b", re.IGNORECASE
    ),
    "count": re.compile(
        r"\b(?:m[ií]nimo|m[aá]ximo|at[eé])\s+(?:de\s+)?\d+|\b\d+\s*x\b|\b\d+\s+(?!de\b|%|h\b)[a-zà-ú]{3,}",
        re.IGNORECASE,
    ),
    "percent": re.compile(r"\d+(?:[.,]\d+)?\s*%"),
}

_AMOUNT = re.compile(r"R\$\s*\d")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-Ú0-9\"“(])")
_HEADING_MD = re.compile(r"^\s*#{1,6}\s+")


@dataclass(frozen=True)
class Unit:
    """One answerable piece of a source: a sentence, a list item or a table row."""

    n: int  # the source's number in this run
    rank: int  # the source's position in the search results
    text: str
    heading: str  # the heading the unit sits under, for context


def asked(question: str) -> set[str]:
    """The kinds of value a question asks for (empty when it asks for none in particular)."""
    q = " " + re.sub(r"\s+", " ", _fold_keep_space(question)) + " "
    kinds = {kind for kind, rx in _ASKS.items() if rx.search(q)}
    if "duration" in kinds:
        kinds.discard("count")  # "quantos dias" asks for a duration
    if not kinds and re.search(r"\b(?:quanto|qnto|qto)\b", q):
        kinds = {"price", "percent", "count"}  # "multa de quanto?", "de quanto?": an amount of some kind
    return kinds


def _fold_keep_space(text: str) -> str:
    return " ".join(fold(w) for w in text.split())


def holds(unit: str, kind: str) -> bool:
    return bool(_VALUES[kind].search(unit))


def _clean(text: str) -> str:
    s = re.sub(r"[*_`>]+", "", text)
    s = re.sub(r"^\s*(?:[-•]|\d+\.)\s+", "", s)
    return re.sub(r"\s+", " ", s).strip()


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _is_heading_like(line: str) -> bool:
    """A short line with no sentence end and no value: a title (PDF and TXT headings too)."""
    if _HEADING_MD.match(line):
        return True
    words = line.split()
    if not words or len(words) > 8 or re.search(r"[.!?:;]$", line):
        return False
    return not any(holds(line, kind) for kind in ("price", "percent", "time"))


def units(sources: list[dict[str, Any]], limit: int = 6) -> list[Unit]:
    """Cut the first ``limit`` sources into units, tables row by row."""
    out: list[Unit] = []
    for rank, src in enumerate(sources[:limit]):
        n = int(src["n"])
        heading = str(src.get("title") or "")
        header: list[str] | None = None
        heads: list[str] = []
        buffer = ""
        lines = [*str(src.get("text", "")).splitlines(), ""]
        for raw in lines:
            line = raw.strip()
            if line.count("|") >= 2 or (header is not None and "|" in line):
                if buffer:
                    out += _sentences(n, rank, buffer, heading)
                    buffer = ""
                if _TABLE_SEP.match(line):
                    continue
                cells = _cells(line)
                if header is None:
                    header = cells
                    continue
                pairs = [f"{h}: {c}" for h, c in zip(header[1:], cells[1:], strict=False) if c]
                row = f"{cells[0]} — " + "; ".join(pairs) if pairs else cells[0]
                out.append(Unit(n, rank, _clean(row), heading))
                continue
            header = None
            if not line:
                if buffer:
                    out += _sentences(n, rank, buffer, heading)
                buffer = ""
                continue
            if _is_heading_like(line) and not buffer:
                # A Markdown heading starts a new context; PDF/TXT titles add to the last few.
                md = _HEADING_MD.match(line)
                heads = [_clean(_HEADING_MD.sub("", line))] if md else [*heads[-3:], _clean(line)]
                heading = " ".join([str(src.get("title") or ""), *heads])
                continue
            starts_item = bool(re.match(r"^(?:[-•*]|\d+[.)])\s+", line))
            continues = buffer and not starts_item and not re.search(r"[.!?:;]$", buffer) and line[:1].islower()
            if buffer and not continues:
                out += _sentences(n, rank, buffer, heading)
                buffer = ""
            buffer = f"{buffer} {line}".strip()
            if len(terms(buffer)) < 2 and heads and not _HEADING_MD.match(heads[-1]):
                buffer = f"{' '.join(heads[-2:])}: {buffer}"  # "Livre Premium: R$ 149,90/mês" (PDF tables)
    return out


def _sentences(n: int, rank: int, text: str, heading: str) -> list[Unit]:
    out = []
    for part in _SENTENCE_END.split(text):
        s = _clean(part)
        if len(s) >= 12:
            out.append(Unit(n, rank, s, heading))
    return out


def _weights(query_terms: set[str], pool: list[Unit]) -> dict[str, float]:
    """Rarer words weigh more: log(1 + N / (1 + units holding the word)). A word no unit or
    heading holds counts half: chat words ("trampo", "kkk") should not sink a good match."""
    bags = [terms(u.text) for u in pool]
    seen = set().union(*bags, *(terms(u.heading) for u in pool))
    total = len(bags)
    return {t: math.log(1 + total / (1 + sum(t in b for b in bags))) * (1.0 if t in seen else 0.5) for t in query_terms}


def fold_words(text: str) -> str:
    return _fold_keep_space(text.lower())


_NEGATED = re.compile(r"\b(?:nao\s+(?:tenho|tiver|tem|tiverem|tinha)|sem)\s+(?:o\s+|a\s+|um\s+|uma\s+)?([a-z]{4})")


def negated_terms(question: str) -> list[str]:
    return _NEGATED.findall(fold_words(question))


def _score(
    unit: Unit, q: set[str], weights: dict[str, float], kinds: set[str], negated: list[str]
) -> tuple[float, float, int]:
    own = terms(unit.text)
    head = terms(unit.heading) - own
    hit = q & own
    score = sum(weights[t] for t in hit) + 0.5 * sum(weights[t] for t in q & head)
    if kinds:
        if "price" in kinds and _AMOUNT.search(unit.text):
            score *= 1.8  # "quanto custa" is best answered by an amount, then by "sem custo"
        elif "price" in kinds and holds(unit.text, "price"):
            score *= 1.3
        else:
            score *= 1.6 if any(holds(unit.text, k) for k in kinds) else 0.55
    for stem in negated:  # "se eu não tiver atestado" is answered by "sem atestado", not "com atestado"
        if re.search(rf"\bsem\s+{stem}", fold_words(unit.text)):
            score *= 1.4
        elif re.search(rf"\bcom\s+{stem}", fold_words(unit.text)):
            score *= 0.8
    score -= 0.05 * unit.rank
    total = sum(weights.get(t, 0.0) for t in q) or 1.0
    coverage = (sum(weights[t] for t in hit) + sum(weights[t] for t in q & head)) / total
    return score, coverage, len(hit) + len(q & head)


_INTERROGATIVE = re.compile(
    r"\b(?:qual|quais|quanto|quantos|quantas|quando|como|onde|por\s*que|d[aá]\s+pra|posso|pode|tem|t[eê]m|"
    r"aceitam|atendem|existe|h[aá])\b",
    re.IGNORECASE,
)


def split_question(question: str) -> list[str]:
    """The parts of a two-part question; a one-part question comes back whole."""
    parts = [p for p in re.split(r"\?+", question) if p.strip()]
    out: list[str] = []
    for p in parts:
        out += re.split(
            r",?\s+e\s+(?=(?:qual|quais|quanto|quantos|quantas|quando|que|como|onde|at[eé]|com|em|por|se)\b)"
            r"|\s+tamb[eé]m\s+",
            p,
            flags=re.IGNORECASE,
        )
    kept: list[str] = []
    for p in (x.strip(" ,.;") for x in out):
        if not p:
            continue
        if (kept and not (asked(p) or _INTERROGATIVE.search(p))) or (kept and not terms(p)):
            kept[-1] = f"{kept[-1]} {p}"  # "Quero o de 1 ano" qualifies the part before it
        else:
            kept.append(p)
    return kept if len(kept) > 1 else [question]


def pick(question: str, sources: list[dict[str, Any]], limit: int = 2) -> list[Unit]:
    """The units that answer ``question``: one per part (two-part questions), and for a
    one-part question a second unit when it is nearly as good and adds something."""
    pool = units(sources)
    if not pool:
        return []
    all_terms = terms(question)
    weights = _weights(all_terms, pool)
    if _unknown_names(question, pool):
        return []  # "o Plano Diamante", "a unidade de Curitiba": a name no source mentions
    parts = split_question(question)
    negated = negated_terms(question)
    chosen: list[Unit] = []
    for part in parts:
        q = terms(part)
        if not q:
            continue
        kinds = asked(part)
        need = 1 if len(q) <= 2 else 2
        ranked = sorted(
            (
                (score, u)
                for u in pool
                if u not in chosen
                for score, coverage, matched in [_score(u, q, weights, kinds, negated)]
                if matched >= need and coverage >= MIN_COVERAGE
            ),
            key=lambda t: t[0],
            reverse=True,
        )
        if not ranked:
            continue
        chosen.append(ranked[0][1])
        if len(parts) == 1 and len(ranked) > 1 and limit > 1:
            (best, top), (second, runner) = ranked[0], ranked[1]
            adds = bool((q - terms(top.text)) & terms(runner.text))
            if second >= 0.75 * best and adds:
                chosen.append(runner)
    return chosen[: max(limit, len(parts))]


_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b([A-ZÀ-Ý][\wà-ÿ]{3,})")


def _unknown_names(question: str, pool: list[Unit]) -> list[str]:
    """Capitalised words inside the question (names of plans, places, brands) that no
    retrieved unit holds: the question is about something the base does not have."""
    known = set().union(*(terms(f"{u.heading} {u.text}") for u in pool))
    names = [w for w in _CAPITALISED.findall(question.strip()) if fold(w) not in STOPWORDS]
    return [w for w in names if terms(w) and not terms(w) & known]


def answer(question: str, sources: list[dict[str, Any]]) -> str | None:
    """An extractive, cited answer to ``question`` from ``sources``, or None when none answers."""
    picked = pick(question, sources)
    if not picked:
        return None
    body = " ".join(f"{u.text.rstrip('.')}. [{u.n}]" for u in picked)
    return f"Segundo a nossa base: {body}\n\n{cite_sources(sources, {u.n for u in picked})}"


# Conversation: greetings, names, small talk ----------------------------------------------

_GREETING = re.compile(
    r"^\s*(?:(?:oi+|ol[aá]|opa|e\s+a[ií]|hello|hey|bom\s+dia|boa\s+tarde|boa\s+noite|tudo\s+bem|tudo\s+bom)"
    r"[\s,!.?;-]*)+",
    re.IGNORECASE,
)
_NAME_WORD = r"[A-ZÀ-Ý][a-zà-ÿ]+"
_NAME = re.compile(
    rf"\b(?:meu\s+nome\s+[eé]|me\s+chamo|aqui\s+[eé]\s+(?:[oa]\s+)?|eu\s+sou\s+[oa]\s+|sou\s+[oa]\s+)\s*"
    rf"({_NAME_WORD}(?:\s+(?:d[aeo]s?\s+)?{_NAME_WORD}){{0,3}})",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"\b(?:qual|sabe|lembra|diz|fala)\b.{0,25}\b(?:meu\s+nome|como\s+(?:eu\s+)?me\s+chamo|quem\s+sou\s+eu)\b"
    r"|^\s*(?:qual\s+[eé]\s+)?(?:o\s+)?meu\s+nome\s*\??\s*$",
    re.IGNORECASE,
)
_SMALL_TALK = re.compile(r"^\s*(?:obrigad[oa]|valeu|tudo\s+bem|beleza|ok|certo|legal)[\s!.?,]*$", re.IGNORECASE)


@dataclass(frozen=True)
class Message:
    """A customer message read for its conversational parts."""

    greeting: bool
    name: str | None  # the name the customer gave in this message
    question: str  # what is left to answer once greeting and name are taken out ("" if nothing)


def _name_of(text: str) -> str | None:
    m = _NAME.search(text)
    if not m:
        return None
    words = m.group(1).split()
    # Keep the capitalised words: "Joana Prates e quero" stops at "e"; "sou o dono" is no name.
    kept: list[str] = []
    for w in words:
        if w[:1].isupper() or (kept and w.lower() in ("da", "de", "do", "das", "dos")):
            kept.append(w)
        else:
            break
    while kept and kept[-1].lower() in ("da", "de", "do", "das", "dos"):
        kept.pop()
    return " ".join(kept) or None


def read_message(text: str) -> Message:
    g = _GREETING.match(text)
    rest = text[g.end() :] if g else text
    name = _name_of(rest)
    if name:
        m = _NAME.search(rest)
        assert m is not None
        end = m.start(1) + len(name)
        rest = rest[: m.start()] + " " + rest[end:]
    rest = re.sub(r"^[\s,.;:!-]*(?:e\s+)?", "", rest).strip()
    if _SMALL_TALK.match(rest) or (not terms(rest) and not re.search(r"\d", rest)):
        rest = ""
    return Message(greeting=bool(g) or name is not None, name=name, question=rest)


def asks_for_name(text: str) -> bool:
    return bool(_ASKS_NAME.search(text))


def remembered_name(history: list[tuple[str, str]]) -> str | None:
    """The last name the customer gave in this thread (the thread's messages are its memory)."""
    for role, text in reversed(history):
        if role == "user":
            name = _name_of(text)
            if name:
                return name
    return None


def greet(name: str | None) -> str:
    return f"Olá, {name.split()[0]}!" if name else "Olá!"


__all__ = [
    "Message",
    "Unit",
    "answer",
    "asked",
    "asks_for_name",
    "greet",
    "holds",
    "pick",
    "read_message",
    "remembered_name",
    "split_question",
    "units",
]
