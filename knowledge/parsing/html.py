"""HTML: the page's content as Markdown-ish blocks, without its chrome.

Page chrome (navigation, site header and footer, asides, scripts, styles, forms) would be
indexed into every chunk's neighbourhood and answer questions with menu labels, so it is
dropped. ``<header>``/``<footer>`` inside an ``<article>`` or ``<main>`` are kept: there
they usually hold the article's own title or byline. What remains becomes blocks: headings
as ``#`` lines that drive the heading path, lists as ``- item`` lines, tables as
``a | b | c`` rows so a row's cells stay together in one chunk.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4.element import Comment, Doctype, NavigableString, ProcessingInstruction, Tag

from knowledge.parsing.model import Block, HeadingStack, ParsedDocument, ParseOptions, document_from_blocks
from knowledge.sniff import DocKind

_ALWAYS_DROP = (
    "script",
    "style",
    "noscript",
    "template",
    "nav",
    "aside",
    "iframe",
    "svg",
    "canvas",
    "form",
    "button",
    "select",
    "head",
    "object",
    "embed",
)
_DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_PARAGRAPHS = {"p", "blockquote", "address", "figcaption", "summary", "caption", "dt", "dd"}
_BLOCK_CONTAINERS = {
    "html",
    "body",
    "main",
    "article",
    "section",
    "div",
    "header",
    "footer",
    "figure",
    "details",
    "dl",
    "fieldset",
    "center",
}
# Elements whose text must not run into their neighbour's when flattened.
_SPACED = _PARAGRAPHS | _BLOCK_CONTAINERS | {"li", "td", "th", "tr", "p", "ul", "ol", "table", "pre", "img"}
_WS = re.compile(r"[ \t\r\f\v\u00a0]+")


def _clean(text: str) -> str:
    lines = (_WS.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _inline_text(node: Tag) -> str:
    """Text of an element as it reads: ``<br>`` breaks lines, block children are spaced.

    Pieces are joined without separators because the source's own whitespace decides
    whether ``<strong>Livre</strong>,`` reads "Livre," (not "Livre ,").
    """
    parts: list[str] = []
    for piece in node.descendants:
        if isinstance(piece, Tag):
            if piece.name == "br":
                parts.append("\n")
            elif piece.name in _SPACED:
                parts.append(" ")
        elif isinstance(piece, NavigableString) and not isinstance(piece, Comment | Doctype | ProcessingInstruction):
            parts.append(str(piece))
    return _clean("".join(parts))


def _drop_chrome(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_ALWAYS_DROP):
        if not tag.decomposed:
            tag.decompose()
    for tag in soup.find_all(["header", "footer"]):
        if not tag.decomposed and tag.find_parent(["article", "main"]) is None:
            tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed:
            continue
        role = tag.get("role")
        hidden = tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).lower() == "true"
        if hidden or (isinstance(role, str) and role.lower() in _DROP_ROLES):
            tag.decompose()


def _list_lines(node: Tag, depth: int = 0) -> Iterator[str]:
    ordered = node.name == "ol"
    for n, item in enumerate(node.find_all("li", recursive=False), start=1):
        nested = [child.extract() for child in item.find_all(["ul", "ol"], recursive=False)]
        text = _inline_text(item).replace("\n", " ")
        marker = f"{n}." if ordered else "-"
        if text:
            yield f"{'  ' * depth}{marker} {text}"
        for sub in nested:
            yield from _list_lines(sub, depth + 1)


def _table_lines(node: Tag) -> Iterator[str]:
    caption = node.find("caption")
    if caption is not None:
        text = _inline_text(caption)
        if text:
            yield text
    for row in node.find_all("tr"):
        if row.find_parent("table") is not node:
            continue  # rows of nested tables are rendered inside their cell's text
        cells = [_inline_text(c).replace("\n", " ") for c in row.find_all(["th", "td"], recursive=False)]
        if any(cells):
            yield " | ".join(cells)


class _Walker:
    def __init__(self) -> None:
        self.stack = HeadingStack()
        self.blocks: list[Block] = []
        self._inline: list[str] = []

    def flush(self) -> None:
        text = _clean("".join(self._inline))
        self._inline.clear()
        if text:
            self.blocks.append(Block(text=text, heading_path=self.stack.path))

    def add(self, text: str, *, heading: bool = False) -> None:
        self.flush()
        if text.strip():
            self.blocks.append(Block(text=text, heading_path=self.stack.path, is_heading=heading))

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, Comment | Doctype | ProcessingInstruction):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name
            if name in _HEADINGS:
                title = _inline_text(child).replace("\n", " ")
                if title:
                    self.flush()
                    self.stack.push(_HEADINGS[name], title)
                    self.add(f"{'#' * _HEADINGS[name]} {title}", heading=True)
            elif name in ("ul", "ol"):
                self.add("\n".join(_list_lines(child)))
            elif name == "table":
                self.add("\n".join(_table_lines(child)))
            elif name == "pre":
                self.add(child.get_text())
            elif name in _PARAGRAPHS:
                self.add(_inline_text(child))
            elif name in _BLOCK_CONTAINERS or name == "li":
                self.flush()
                self.walk(child)
                self.flush()
            elif name == "br":
                self._inline.append("\n")
            else:  # inline element (a, strong, span, ...) inside running text
                self._inline.append(_inline_text(child))
        # Running text directly inside a container is flushed by the caller.


def parse_html(data: bytes, options: ParseOptions) -> ParsedDocument:
    # lxml's HTML parser never resolves external entities or fetches anything.
    soup = BeautifulSoup(data, "lxml")
    title_tag = soup.find("title")
    title = _inline_text(title_tag) if isinstance(title_tag, Tag) else None
    _drop_chrome(soup)
    walker = _Walker()
    root = soup.find("body") or soup
    if isinstance(root, Tag):
        walker.walk(root)
    walker.flush()
    return document_from_blocks(DocKind.HTML, walker.blocks, options=options, title=title or None)


__all__ = ["parse_html"]
