"""Large PDFs parsed in page ranges (each in its own sandboxed child) equal the single pass."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from knowledge import ParseFailed, ParseOptions, SandboxLimits, parse_in_sandbox
from knowledge.parsing.pdf_pages import PdfPages, page_ranges, pdf_document
from knowledge.pdf_ranges import PageRange, ThreadPageRanges, parse_pdf_in_ranges

from ...kb_support import multipage_pdf, page_text


class Recording:
    """A PageRangeRunner that records the ranges it was given."""

    def __init__(self) -> None:
        self.ranges: list[PageRange] = []
        self._threads = ThreadPageRanges(parallelism=2)

    async def __call__(
        self, data: bytes, ranges: Sequence[PageRange], options: ParseOptions, limits: SandboxLimits
    ) -> list[PdfPages]:
        self.ranges += ranges
        return await self._threads(data, ranges, options, limits)


def test_page_ranges_cover_every_page_once() -> None:
    assert page_ranges(40, 16, start=17) == [(17, 32), (33, 40)]
    assert page_ranges(16, 16) == [(1, 16)]
    assert page_ranges(33, 16, start=17) == [(17, 32), (33, 33)]
    with pytest.raises(ValueError):
        page_ranges(10, 0)


def test_merge_checks_the_tiling_and_the_whole_files_ocr_budget() -> None:
    a = PdfPages(page_count=3, first=1, texts=("um", "dois"), ocr_pages=(2,))
    b = PdfPages(page_count=3, first=3, texts=("três",), ocr_pages=(3,))
    doc = pdf_document([b, a], ParseOptions())  # any order
    assert doc.text == "um\n\ndois\n\ntrês" and [s.page for s in doc.sections] == [1, 2, 3]
    with pytest.raises(ValueError, match="tile"):
        pdf_document([a, PdfPages(page_count=3, first=2, texts=("x",))], ParseOptions())
    with pytest.raises(ValueError, match="end at page 2"):
        pdf_document([a], ParseOptions())
    # Each range stayed within max_ocr_pages; together they did not.
    with pytest.raises(ParseFailed, match="more than 1 scanned pages"):
        pdf_document([a, b], ParseOptions(max_ocr_pages=1))


async def test_a_large_pdf_in_ranges_equals_the_single_pass(require_tesseract: None) -> None:
    data = multipage_pdf(40, scanned=[23], blank=[30])
    runner = Recording()
    ranged = await parse_pdf_in_ranges(data, range_pages=16, runner=runner)
    assert runner.ranges == [(17, 32), (33, 40)]  # pages 1..16 were read by the first child
    single = parse_in_sandbox(data)
    assert ranged == single  # same text, sections, offsets, pages, OCR pages
    assert ranged.page_count == 40 and ranged.ocr_pages == (23,)
    pages = {s.page for s in ranged.sections}
    assert pages == set(range(1, 41)) - {30}
    for page in (1, 16, 17, 33, 40):
        section = next(s for s in ranged.sections if f"REF-{page:04d}" in s.text)
        assert section.page == page
        assert ranged.text[section.char_start : section.char_end] == section.text
        assert page_text(page)[1] in section.text


async def test_a_small_pdf_takes_the_one_child_path() -> None:
    runner = Recording()
    doc = await parse_pdf_in_ranges(multipage_pdf(5), range_pages=16, runner=runner)
    assert runner.ranges == [] and doc.page_count == 5


async def test_a_failing_range_fails_the_parse_with_its_reason() -> None:
    data = multipage_pdf(20, scanned=[18])
    with pytest.raises(ParseFailed, match="more than 0 scanned pages"):
        await parse_pdf_in_ranges(data, range_pages=8, runner=Recording(), options=ParseOptions(max_ocr_pages=0))
