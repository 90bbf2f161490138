"""Test documents for the knowledge base, generated in the test (no binary fixtures).

``multipage_pdf`` writes a PDF by hand: one Helvetica text object per paragraph, WinAnsi
encoding (so Portuguese accents survive), and optionally scanned pages, which are a JPEG of
rendered text and no text layer (what OCR is for).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont


def page_text(page: int) -> list[str]:
    """The paragraphs of page ``page`` of :func:`multipage_pdf` (text pages)."""
    return [
        f"Capítulo {page}: regras da unidade número {page}.",
        f"Parágrafo da página {page} com o código de referência REF-{page:04d} e ação revisada.",
    ]


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _scan(text: str) -> bytes:
    image = Image.new("L", (1275, 1650), 255)  # US letter at 150 dpi
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    for i, line in enumerate(text.split("\n")):
        draw.text((120, 200 + i * 80), line, fill=0, font=font)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=90)
    return out.getvalue()


def multipage_pdf(pages: int, *, scanned: Sequence[int] = (), blank: Sequence[int] = ()) -> bytes:
    """A PDF of ``pages`` US-letter pages: :func:`page_text` on each, except the pages in
    ``scanned`` (an image of text, no text layer) and ``blank`` (nothing at all)."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    kids = []
    next_id = 4
    for page in range(1, pages + 1):
        page_id, content_id = next_id, next_id + 1
        next_id += 2
        resources = b"/Font << /F1 3 0 R >>"
        if page in scanned:
            image_id = next_id
            next_id += 1
            jpeg = _scan(f"Página digitalizada {page}\nAviso de manutenção da piscina")
            objects[image_id] = (
                b"<< /Type /XObject /Subtype /Image /Width 1275 /Height 1650 /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % len(jpeg) + jpeg + b"\nendstream"
            )
            resources += b" /XObject << /Im1 %d 0 R >>" % image_id
            stream = b"q 612 0 0 792 0 0 cm /Im1 Do Q"
        elif page in blank:
            stream = b""
        else:
            lines = [
                b"BT /F1 12 Tf 72 %d Td (%s) Tj ET" % (720 - 40 * i, _escape(p)) for i, p in enumerate(page_text(page))
            ]
            stream = b"\n".join(lines)
        objects[content_id] = b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream"
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << %s >> /Contents %d 0 R >>"
            % (
                resources,
                content_id,
            )
        )
        kids.append(b"%d 0 R" % page_id)
    objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n")
    xref = out.tell()
    count = max(objects) + 1
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % count)
    for number in range(1, count):
        out.write(b"%010d 00000 n \n" % offsets[number])
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (count, xref))
    return out.getvalue()
