"""Markdown and plain text: the document text is the file itself.

Both parsers only *find* sections in the decoded text and never rewrite it, so a chunk's
offsets point straight into what the user uploaded. Markdown block structure comes from
markdown-it-py (CommonMark + tables), which knows that a ``#`` inside a code fence is not
a heading; plain text gets headings from ``#`` lines and from lines framed by rulers
(``=====``), the way hand-written policy documents mark them.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt

from knowledge.errors import ParseFailed
from knowledge.parsing.model import HeadingStack, ParsedDocument, ParseOptions, Section, finish, normalize_text
from knowledge.sniff import DocKind, decode_text

_ATX = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_RULER = re.compile(r"^[ \t]*([=\-_*~#])\1{2,}[ \t]*$")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_MAX_TITLE = 200

# Block tokens that open a top-level block in markdown-it's token stream (level 0).
_MD_BLOCKS = frozenset(
    {
        "paragraph_open",
        "bullet_list_open",
        "ordered_list_open",
        "blockquote_open",
        "table_open",
        "fence",
        "code_block",
        "html_block",
    }
)


def _span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` to exclude surrounding whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _section(text: str, start: int, end: int, path: tuple[str, ...], *, heading: bool = False) -> Section | None:
    start, end = _span(text, start, end)
    if start == end:
        return None
    return Section(text=text[start:end], char_start=start, char_end=end, heading_path=path, is_heading=heading)


def parse_markdown(data: bytes, options: ParseOptions) -> ParsedDocument:
    text = normalize_text(decode_text(data))
    if len(text) > options.max_text_chars:
        raise ParseFailed(f"the document has more than {options.max_text_chars} characters of text")
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def offset(line: int) -> int:
        return line_starts[line] if line < len(line_starts) else len(text)

    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    stack = HeadingStack()
    sections: list[Section] = []
    title: str | None = None
    for i, tok in enumerate(tokens):
        if tok.level != 0 or tok.map is None:
            continue
        first, last = tok.map
        if tok.type == "heading_open":
            inline = tokens[i + 1]
            heading = "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))
            heading = heading.strip() or inline.content.strip()
            path = stack.push(int(tok.tag[1:]), heading)
            if title is None and tok.tag == "h1":
                title = heading[:_MAX_TITLE]
            section = _section(text, offset(first), offset(last), path, heading=True)
        elif tok.type in _MD_BLOCKS:
            section = _section(text, offset(first), offset(last), stack.path)
        else:  # thematic breaks and closers carry no content
            continue
        if section is not None:
            sections.append(section)
    return finish(ParsedDocument(kind=DocKind.MARKDOWN, text=text, sections=tuple(sections), title=title))


def parse_text(data: bytes, options: ParseOptions) -> ParsedDocument:
    text = normalize_text(decode_text(data))
    if len(text) > options.max_text_chars:
        raise ParseFailed(f"the document has more than {options.max_text_chars} characters of text")
    stack = HeadingStack()
    sections: list[Section] = []
    for start, end in _paragraphs(text):
        lines = text[start:end].split("\n")
        line_offsets = [start]
        for line in lines[:-1]:
            line_offsets.append(line_offsets[-1] + len(line) + 1)
        # Rulers frame or underline headings; they are decoration, not content.
        ruled = [i for i, line in enumerate(lines) if _RULER.match(line)]
        content = [i for i in range(len(lines)) if i not in ruled and lines[i].strip()]
        if not content:
            continue
        atx = _ATX.match(lines[content[0]]) if len(content) == 1 else None
        if atx or (ruled and len(content) == 1):
            i = content[0]
            level = len(atx.group(1)) if atx else (1 if "=" in "".join(lines[r] for r in ruled) else 2)
            heading = atx.group(2).strip() if atx else lines[i].strip()
            path = stack.push(level, heading)
            section = _section(text, line_offsets[i], line_offsets[i] + len(lines[i]), path, heading=True)
        else:
            body_start = line_offsets[content[0]]
            body_end = line_offsets[content[-1]] + len(lines[content[-1]])
            section = _section(text, body_start, body_end, stack.path)
        if section is not None:
            sections.append(section)
    first_line = next((s.text.split("\n", 1)[0] for s in sections), None)
    return finish(
        ParsedDocument(
            kind=DocKind.TEXT,
            text=text,
            sections=tuple(sections),
            title=first_line[:_MAX_TITLE] if first_line else None,
        )
    )


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """Spans of text between blank lines."""
    spans: list[tuple[int, int]] = []
    cursor = 0
    for m in _BLANK_LINES.finditer(text):
        spans.append((cursor, m.start()))
        cursor = m.end()
    spans.append((cursor, len(text)))
    return [s for s in spans if text[s[0] : s[1]].strip()]


__all__ = ["parse_markdown", "parse_text"]
