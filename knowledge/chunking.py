"""Split a parsed document into chunks that fit the embedding model's token window.

Sizes are counted in the embedder's own tokens (see :mod:`knowledge.tokenizer`) and derived
from its window by :meth:`ChunkingPolicy.for_window`: all-MiniLM-L6-v2 reads 256 tokens, so
chunks aim at ~200 with ~30 of overlap; a large-window model (8k) gets the seed's
700-1200-token chunks with 100 of overlap.

How a document is cut, in order of preference:

1. never across a heading (or a PDF page): each heading's body is chunked on its own and
   every chunk records that heading path; a heading with no body of its own is merged
   into its first subsection so it is not left as a one-line chunk;
2. at paragraph ends, then sentence ends and list items, then line ends, then spaces, and
   only as a last resort inside a word at a token boundary;
3. chunks are filled greedily up to the target, but if a paragraph break falls in the last
   40 % of a chunk, the chunk ends there instead of mid-paragraph.

Every chunk is an exact slice of the document text (``doc.text[char_start:char_end]``), so
a citation can highlight the source. What is embedded is ``embed_text``: the heading path
as context, a blank line, then the text; its token count (special tokens aside) is within
``policy.max_tokens``, so the model never truncates it. ``content_hash`` is the SHA-256 of
``embed_text``: re-ingesting an unchanged document yields the same hashes, so stored
vectors can be reused instead of recomputed.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from knowledge.parsing.model import ParsedDocument, Section
from knowledge.tokenizer import TokenCounter

CONTEXT_SEPARATOR = "\n\n"
HEADING_JOINER = " > "

# Policy derivation (see ChunkingPolicy.for_window).
_TARGET_SHARE = 0.78  # of the window: 256 -> 200, leaving room for the heading context
_TARGET_CAP = 1000  # large windows: the seed's 700-1200 tokens; bigger chunks blur retrieval
_OVERLAP_SHARE = 0.15  # of the target: 200 -> 30
_OVERLAP_CAP = 100
_CONTEXT_SHARE = 0.25  # at most this much of a chunk may be heading context
_PREFER_BREAK_AFTER = 0.6  # share of the target after which a stronger break wins
_TOKEN_CUT_MARGIN = 4  # tokens kept free when cutting inside a word
_SHORT_TAIL = 0.3  # a group's remainder below this share of the target joins the chunk before

# Break strengths: lower is a better place to cut.
_SECTION, _PARAGRAPH, _SENTENCE, _LINE, _WORD, _TOKEN = range(6)

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# Closing quotes and brackets that may follow a sentence's final punctuation.
_CLOSERS = "\"'\u201d\u2019)\\]"
_SENTENCE_END = re.compile(r"[.!?\u2026]+[" + _CLOSERS + r"]*[ \t\n]+(?=\S)")
_STRUCTURED_NEWLINE = re.compile(
    r"\n[ \t]*(?=[-*+•]\s|\d+(?:\.\d+)*[.)]\s|[a-zA-Z]\)\s|\||#{1,6}\s)"
    r"|(?<=[.:;!?|])[ \t]*\n[ \t]*(?=\S)"
    r"|(?<=\S[ ]\|[ ])[^\n]*\n(?=\S)"
)
_NEWLINE = re.compile(r"[ \t]*\n\s*")
_SPACE = re.compile(r"\s+")
_WORD_BEFORE = re.compile(r"([\w.]+)[.!?\u2026]*[" + _CLOSERS + r"]*$")
# Portuguese abbreviations that end in a period but not a sentence.
_ABBREVIATIONS = frozenset(
    {"sr", "sra", "srta", "dr", "dra", "prof", "profa", "av", "al", "nº", "n", "art", "pág", "p", "pp", "ex"}
    | {"obs", "etc", "tel", "cel", "ltda", "cia", "s.a", "sta", "sto", "vol", "cap", "min", "máx", "aprox"}
)


@dataclass(frozen=True, slots=True)
class ChunkingPolicy:
    """Token sizes for one embedding model; build it with :meth:`for_window`."""

    max_tokens: int  # hard limit for embed_text, special tokens excluded
    target_tokens: int
    overlap_tokens: int

    def __post_init__(self) -> None:
        if not 0 < self.target_tokens <= self.max_tokens:
            raise ValueError("target_tokens must be in (0, max_tokens]")
        if not 0 <= self.overlap_tokens < self.target_tokens // 2:
            raise ValueError("overlap_tokens must be below half of target_tokens")

    @classmethod
    def for_window(cls, window: int, *, special_tokens: int = 2) -> ChunkingPolicy:
        """Sizes for a model that reads ``window`` tokens (special tokens included)."""
        hard = window - special_tokens
        target = min(round(window * _TARGET_SHARE), _TARGET_CAP, hard)
        overlap = min(round(target * _OVERLAP_SHARE), _OVERLAP_CAP)
        return cls(max_tokens=hard, target_tokens=target, overlap_tokens=overlap)


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    text: str
    char_start: int
    char_end: int
    page: int | None
    heading_path: tuple[str, ...]
    context: str  # heading path as embedded before the text
    embed_text: str  # what the embedder sees: context + text, decoration between blocks dropped
    token_count: int  # tokens of embed_text, special tokens excluded
    content_hash: str  # sha256 of embed_text


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    tokens: int
    strength: int  # how good a cut is *before* this piece


@dataclass(slots=True)
class _Group:
    heading_path: tuple[str, ...]
    page: int | None
    sections: list[Section] = field(default_factory=list)

    @property
    def heading_only(self) -> bool:
        return all(s.is_heading for s in self.sections)


def _groups(sections: Sequence[Section]) -> list[_Group]:
    groups: list[_Group] = []
    for s in sections:
        last = groups[-1] if groups else None
        if last is not None and last.page == s.page:
            if last.heading_path == s.heading_path:
                last.sections.append(s)
                continue
            descends = s.heading_path[: len(last.heading_path)] == last.heading_path
            if last.heading_only and descends:
                last.sections.append(s)
                last.heading_path = s.heading_path
                continue
        groups.append(_Group(heading_path=s.heading_path, page=s.page, sections=[s]))
    return groups


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_sentence_end(text: str, match: re.Match[str], floor: int) -> bool:
    following = text[match.end()]
    if following.islower():
        return False
    before = _WORD_BEFORE.search(text, max(floor, match.start() - 20), match.start() + 1)
    if before is None:
        return True
    word = before.group(1).lower().rstrip(".")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False
    # "3.1. Planos" or "## 2. Tom de voz" numbers a clause or heading; no sentence ends there.
    line_start = max(text.rfind("\n", floor, before.start(1)) + 1, floor)
    prefix = text[line_start : before.start(1)].strip(" \t#>*+•-")
    return not (word.replace(".", "").isdigit() and not prefix)


def _breaks(text: str, start: int, end: int) -> dict[int, int]:
    """Cut points inside ``[start, end)`` mapped to their strength (best one wins)."""
    found: dict[int, int] = {}

    def add(pos: int, strength: int) -> None:
        if start < pos < end:
            found[pos] = min(strength, found.get(pos, strength))

    for m in _PARAGRAPH_BREAK.finditer(text, start, end):
        add(m.end(), _PARAGRAPH)
    for m in _SENTENCE_END.finditer(text, start, end):
        if m.end() < end and _is_sentence_end(text, m, start):
            add(m.end(), _SENTENCE)
    for m in _STRUCTURED_NEWLINE.finditer(text, start, end):
        add(_trim(text, m.end(), end)[0], _SENTENCE)
    return found


def _spans(text: str, start: int, end: int, cuts: dict[int, int], first: int) -> list[tuple[int, int, int]]:
    """Trimmed ``(start, end, strength)`` spans between sorted cut points."""
    points = sorted(cuts)
    bounds = [start, *points, end]
    strengths = [first, *(cuts[p] for p in points)]
    out: list[tuple[int, int, int]] = []
    pending = _TOKEN
    for lo, hi, strength in zip(bounds, bounds[1:], strengths, strict=False):
        pending = min(pending, strength)  # an empty span hands its break to the next one
        a, b = _trim(text, lo, hi)
        if a < b:
            out.append((a, b, pending))
            pending = _TOKEN
    return out


def _split_oversize(
    text: str, start: int, end: int, *, strength: int, target: int, tokenizer: TokenCounter
) -> list[_Piece]:
    """Break a unit longer than ``target`` at line ends, then spaces, then token edges."""
    for pattern, level in ((_NEWLINE, _LINE), (_SPACE, _WORD)):
        cuts = {m.end(): level for m in pattern.finditer(text, start, end) if start < m.end() < end}
        if cuts:
            spans = _spans(text, start, end, cuts, strength)
            counts = tokenizer.count_batch([text[a:b] for a, b, _ in spans])
            pieces: list[_Piece] = []
            for (a, b, s), n in zip(spans, counts, strict=True):
                if n > target:
                    pieces += _split_oversize(text, a, b, strength=s, target=target, tokenizer=tokenizer)
                else:
                    pieces.append(_Piece(a, b, n, s))
            return pieces
    return _split_tokens(text, start, end, strength=strength, target=target, tokenizer=tokenizer)


def _split_tokens(
    text: str, start: int, end: int, *, strength: int, target: int, tokenizer: TokenCounter
) -> list[_Piece]:
    """Last resort for one enormous "word" (base64, a URL, a run of symbols): cut at tokens.

    A slice re-tokenised on its own can differ by a token or two at its edges (a ``##``
    continuation becomes a word start), hence the small margin under ``target``.
    """
    segment = text[start:end]
    starts = [a for a, _ in tokenizer.offsets(segment)]
    step = max(1, target - _TOKEN_CUT_MARGIN)
    pieces: list[_Piece] = []
    for i in range(0, len(starts), step):
        a = start + (0 if i == 0 else starts[i])
        b = start + (len(segment) if i + step >= len(starts) else starts[i + step])
        pieces.append(_Piece(a, b, tokenizer.count(text[a:b]), strength if i == 0 else _TOKEN))
    return pieces


def _pieces(text: str, group: _Group, target: int, tokenizer: TokenCounter) -> list[_Piece]:
    spans: list[tuple[int, int, int]] = []
    for n, section in enumerate(group.sections):
        first = _SECTION if n == 0 else _PARAGRAPH
        cuts = _breaks(text, section.char_start, section.char_end)
        spans += _spans(text, section.char_start, section.char_end, cuts, first)
    counts = tokenizer.count_batch([text[a:b] for a, b, _ in spans])
    pieces: list[_Piece] = []
    for (a, b, strength), n in zip(spans, counts, strict=True):
        if n > target:
            pieces += _split_oversize(text, a, b, strength=strength, target=target, tokenizer=tokenizer)
        else:
            pieces.append(_Piece(a, b, n, strength))
    return pieces


def _cut(pieces: Sequence[_Piece], i: int, target: int, hard: int) -> int:
    """End (exclusive) of the chunk that starts at piece ``i``."""
    total = pieces[i].tokens
    j = i + 1
    while j < len(pieces) and total + pieces[j].tokens <= target:
        total += pieces[j].tokens
        j += 1
    if j == len(pieces):
        return j
    # A short tail makes a poor chunk of its own: finish the group if the window allows.
    rest = sum(p.tokens for p in pieces[j:])
    if rest < target * _SHORT_TAIL and total + rest <= hard:
        return len(pieces)
    best, best_strength = j, pieces[j].strength
    running = total
    for k in range(j - 1, i, -1):  # walk back over cut points that keep the chunk full enough
        running -= pieces[k].tokens
        if running < target * _PREFER_BREAK_AFTER:
            break
        if pieces[k].strength < best_strength:
            best, best_strength = k, pieces[k].strength
    return best


def _overlap_start(pieces: Sequence[_Piece], i: int, end: int, target: int, overlap: int) -> int:
    """Where the next chunk starts: back from ``end`` by whole pieces worth <= overlap tokens."""
    k, carried = end, 0
    while k - 1 > i and carried + pieces[k - 1].tokens <= overlap:
        k -= 1
        carried += pieces[k].tokens
    # The next chunk must still make progress: the overlap plus the next piece must fit.
    while k < end and carried + pieces[end].tokens > target:
        carried -= pieces[k].tokens
        k += 1
    return k


def _context(path: tuple[str, ...], tokenizer: TokenCounter, limit: int) -> str:
    """The heading path as a breadcrumb, dropping outer headings until it fits ``limit``."""
    for first in range(len(path)):
        context = HEADING_JOINER.join(path[first:])
        if tokenizer.count(context + CONTEXT_SEPARATOR) <= limit:
            return context
    return ""


def _embed_body(text: str, pieces: Sequence[_Piece]) -> str:
    """The chunk's pieces joined by their own whitespace; non-blank gaps become a blank line.

    Gaps between sections can hold decoration the parser skipped (``=====`` rulers, ``---``
    breaks): worth nothing to a vector and up to one token per character.
    """
    parts = [text[pieces[0].start : pieces[0].end]]
    for prev, piece in itertools.pairwise(pieces):
        gap = text[prev.end : piece.start]
        parts += [gap if not gap.strip() else "\n\n", text[piece.start : piece.end]]
    return "".join(parts)


def chunk_document(doc: ParsedDocument, tokenizer: TokenCounter, policy: ChunkingPolicy | None = None) -> list[Chunk]:
    """Chunks of ``doc`` in reading order, each within ``policy.max_tokens`` (see module doc)."""
    policy = policy or ChunkingPolicy.for_window(tokenizer.max_tokens, special_tokens=tokenizer.special_tokens)
    chunks: list[Chunk] = []
    for group in _groups(doc.sections):
        context = _context(group.heading_path, tokenizer, int(policy.max_tokens * _CONTEXT_SHARE))
        reserve = tokenizer.count(context + CONTEXT_SEPARATOR) if context else 0
        hard = policy.max_tokens - reserve
        # The target is for what the model reads, so the context comes out of it.
        target = max(min(policy.target_tokens - reserve, hard), policy.target_tokens // 2)
        overlap = min(policy.overlap_tokens, target // 3)
        pieces = _pieces(doc.text, group, target, tokenizer)
        i = 0
        while i < len(pieces):
            end = _cut(pieces, i, target, hard)
            while True:
                body = _embed_body(doc.text, pieces[i:end])
                embed_text = f"{context}{CONTEXT_SEPARATOR}{body}" if context else body
                tokens = tokenizer.count(embed_text)
                # Piece counts add up exactly across whitespace; token-level cuts may not.
                if tokens <= policy.max_tokens or end - i == 1:
                    break
                end -= 1
            start_char, end_char = pieces[i].start, pieces[end - 1].end
            chunks.append(
                Chunk(
                    index=len(chunks),
                    text=doc.text[start_char:end_char],
                    char_start=start_char,
                    char_end=end_char,
                    page=group.page,
                    heading_path=group.heading_path,
                    context=context,
                    embed_text=embed_text,
                    token_count=tokens,
                    content_hash=hashlib.sha256(embed_text.encode("utf-8")).hexdigest(),
                )
            )
            i = end if end >= len(pieces) else _overlap_start(pieces, i, end, target, overlap)
    return chunks


__all__ = ["CONTEXT_SEPARATOR", "Chunk", "ChunkingPolicy", "chunk_document"]
