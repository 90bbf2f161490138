"""Large PDFs: page ranges parsed in parallel, merged into the single-pass document.

::

    pages 1..R          parsed here (the ingesting worker's own CPU), in a sandboxed child;
                        it also reports the page count
    page_count <= R     done: the one-child path every small PDF takes
    otherwise           pages R+1.. cut into ranges of R pages, each parsed in its own
                        sandboxed child (same memory / CPU / wall caps, OCR included) by a
                        PageRangeRunner: threads of this process, or Ray tasks
                        (serve.knowledge_tasks.RayPageRanges) spread over the cluster
    merge               knowledge.parsing.pdf_pages.pdf_document: offsets computed once over
                        the pages in order, so the result equals one pass over the file

A failing range fails the whole parse with its reason (``ParseFailed`` …); nothing is
stored before the merge, so a retried upload starts again from page 1 (idempotent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from knowledge.parsing.model import ParsedDocument, ParseOptions
from knowledge.parsing.pdf_pages import PdfPages, page_ranges, pdf_document
from knowledge.sandbox_parse import SandboxLimits, parse_pdf_pages_in_sandbox

PageRange = tuple[int, int]


class PageRangeRunner(Protocol):
    """Parses ``ranges`` of one PDF (1-based, inclusive), each in a sandboxed child, and
    returns them in the same order."""

    async def __call__(
        self, data: bytes, ranges: Sequence[PageRange], options: ParseOptions, limits: SandboxLimits
    ) -> list[PdfPages]: ...


@dataclass(frozen=True)
class ThreadPageRanges:
    """Ranges parsed by child processes started from threads of this process,
    ``parallelism`` at a time (plain uvicorn, tests)."""

    parallelism: int = 2

    async def __call__(
        self, data: bytes, ranges: Sequence[PageRange], options: ParseOptions, limits: SandboxLimits
    ) -> list[PdfPages]:
        gate = asyncio.Semaphore(max(1, self.parallelism))

        async def one(first: int, last: int) -> PdfPages:
            async with gate:
                return await asyncio.to_thread(
                    parse_pdf_pages_in_sandbox, data, first, last, options=options, limits=limits
                )

        tasks = [asyncio.ensure_future(one(first, last)) for first, last in ranges]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:  # the first failure is the answer; ranges not started never start
                task.cancel()
            raise


async def parse_pdf_in_ranges(
    data: bytes,
    *,
    range_pages: int,
    runner: PageRangeRunner,
    options: ParseOptions | None = None,
    limits: SandboxLimits | None = None,
) -> ParsedDocument:
    """Parse a PDF, splitting it into ranges of ``range_pages`` pages when it is longer."""
    options = options or ParseOptions()
    limits = limits or SandboxLimits()
    head = await asyncio.to_thread(parse_pdf_pages_in_sandbox, data, 1, range_pages, options=options, limits=limits)
    if head.page_count <= range_pages:
        return pdf_document([head], options)
    rest = page_ranges(head.page_count, range_pages, start=range_pages + 1)
    parts = await runner(data, rest, options, limits)
    return await asyncio.to_thread(pdf_document, [head, *parts], options)


__all__ = ["PageRange", "PageRangeRunner", "ThreadPageRanges", "parse_pdf_in_ranges"]
