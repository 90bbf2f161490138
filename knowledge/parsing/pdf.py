"""PDF: the text layer through PDFium, and Tesseract OCR for pages that only hold images.

pypdfium2 (PDFium, the engine in Chrome) does both jobs we need, extracting text and
rendering pages for OCR, so the file is parsed once by one engine instead of by two that may
disagree about a damaged file. It is also several times faster than pure-Python readers.
PDFium is native code reading hostile bytes: production calls this through
:mod:`knowledge.sandbox_parse`, never in the server process.

A page is OCRed when its text layer has (almost) no letters and it draws at least one
image: that is what a scan looks like. Tesseract runs as a subprocess with the Portuguese
model, one thread (OpenMP threads only fight each other on small machines), and the page
rendered in grayscale at ``ocr_dpi``.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from core.errors import DependencyUnavailable
from knowledge.errors import ParseFailed
from knowledge.parsing.model import ParsedDocument, ParseOptions, normalize_text
from knowledge.parsing.pdf_pages import PdfPages, pdf_document

_CONTROL = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MIN_LETTERS = 20  # below this a page's text layer is a stray footer at best
_OCR_TIMEOUT_S = 120.0


def _clean(text: str) -> str:
    text = normalize_text(text)
    # PDFium marks hyphenation points at line ends with \x02; keep the hyphen, drop the rest.
    text = text.replace("\x02", "-")
    text = _CONTROL.sub("", text)
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def _letters(text: str) -> int:
    return sum(1 for ch in text if ch.isalnum())


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3))


def ocr_image(image_bytes: bytes, *, languages: str, dpi: int) -> str:
    """Run Tesseract on an encoded image (PNM/PNG) and return its text.

    A missing binary or language pack is our deployment's fault, not the uploader's, so it
    is a ``DependencyUnavailable`` rather than a ``ParseFailed``.
    """
    binary = shutil.which("tesseract")
    if binary is None:
        raise DependencyUnavailable("OCR is unavailable: the tesseract binary is not installed")
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        proc = subprocess.run(
            [binary, "stdin", "stdout", "-l", languages, "--dpi", str(dpi), "--psm", "3"],
            input=image_bytes,
            capture_output=True,
            timeout=_OCR_TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ParseFailed(f"OCR of a page took longer than {_OCR_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace")
        if "Failed loading language" in stderr or "Error opening data file" in stderr:
            raise DependencyUnavailable(f"OCR is unavailable: Tesseract language data '{languages}' is not installed")
        if proc.returncode == -signal.SIGXCPU:
            raise ParseFailed("OCR of a page used more CPU time than allowed", details={"limit": "cpu"})
        if "bad_alloc" in stderr or "alloc" in stderr.lower() or proc.returncode == -signal.SIGABRT:
            # Under the sandbox's RLIMIT_AS, Tesseract's failed allocations end in abort().
            raise ParseFailed("OCR of a page needed more memory than allowed", details={"limit": "memory"})
        raise ParseFailed(f"OCR failed on a page (tesseract exit status {proc.returncode})")
    return proc.stdout.decode("utf-8", "replace")


def _ocr_page(page: pdfium.PdfPage, options: ParseOptions) -> str:
    bitmap = page.render(scale=options.ocr_dpi / 72, grayscale=True)
    try:
        image = bitmap.to_pil()
        buffer = io.BytesIO()
        image.save(buffer, format="PPM")  # uncompressed: cheaper than PNG through a pipe
    finally:
        bitmap.close()
    return ocr_image(buffer.getvalue(), languages=options.ocr_languages, dpi=options.ocr_dpi)


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc).lower()
        if "password" in message:
            raise ParseFailed("the PDF is password-protected") from exc
        raise ParseFailed("the PDF is damaged or truncated and cannot be opened") from exc


def read_pdf_pages(data: bytes, options: ParseOptions, first: int = 1, last: int | None = None) -> PdfPages:
    """Extract (and OCR) pages ``first..last`` (1-based, inclusive; ``None``: to the end).

    Limits on the whole file (no pages, too many pages) are checked by every range, so the
    range that sees them fails the same way the single pass does.
    """
    pdf = _open(data)
    try:
        page_count = len(pdf)
        if page_count == 0:
            raise ParseFailed("the PDF has no pages")
        if page_count > options.max_pages:
            raise ParseFailed(f"the PDF has {page_count} pages (limit {options.max_pages})")
        title = str(pdf.get_metadata_dict(skip_empty=True).get("Title", "")).strip() or None
        stop = page_count if last is None else min(last, page_count)
        texts: list[str] = []
        ocr_pages: list[int] = []
        for index in range(max(first, 1) - 1, stop):
            page = pdf[index]
            try:
                textpage = page.get_textpage()
                try:
                    text = _clean(textpage.get_text_range())
                finally:
                    textpage.close()
                if options.ocr and _letters(text) < _MIN_LETTERS and _has_images(page):
                    if len(ocr_pages) >= options.max_ocr_pages:
                        raise ParseFailed(f"the PDF has more than {options.max_ocr_pages} scanned pages to OCR")
                    text = _clean(_ocr_page(page, options))
                    ocr_pages.append(index + 1)
            except pdfium.PdfiumError as exc:
                raise ParseFailed(f"page {index + 1} of the PDF cannot be read") from exc
            finally:
                page.close()
            texts.append(text)
    finally:
        pdf.close()
    return PdfPages(page_count, max(first, 1), tuple(texts), tuple(ocr_pages), title)


def parse_pdf(data: bytes, options: ParseOptions) -> ParsedDocument:
    """The whole PDF in one pass (small files, tests); large ones go by ranges, same result."""
    return pdf_document([read_pdf_pages(data, options)], options)


__all__ = ["ocr_image", "parse_pdf", "read_pdf_pages"]
