"""The child side of :mod:`knowledge.sandbox_parse`; run as ``python -m``, never imported.

Limits are applied first, before any parser library is imported, so that imports and
parsing both count against them. The request (kind, options, limits) arrives as one JSON
argument, the document's bytes on stdin; the answer leaves as one JSON object on stdout.
"""

from __future__ import annotations

import json
import resource
import sys
from typing import Any


def _apply_limits(limits: dict[str, Any]) -> None:
    memory = int(limits["memory_bytes"])
    cpu = int(limits["cpu_seconds"])
    fsize = int(limits["max_output_file_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    # SIGXCPU at the soft limit; the hard limit (SIGKILL) one second later if it is ignored.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _reply(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload, ensure_ascii=False))
    sys.stdout.flush()


def main() -> None:
    request = json.loads(sys.argv[1])
    _apply_limits(request["limits"])
    data = sys.stdin.buffer.read()

    # Imported only now, under the limits.
    from core.errors import TridiumError
    from knowledge.parsing import parse_document
    from knowledge.parsing.model import ParseOptions
    from knowledge.sniff import DocKind

    options = ParseOptions(**request["options"])
    try:
        if request.get("pages") is not None:  # one page range of a large PDF
            from knowledge.parsing.pdf import read_pdf_pages

            first, last = request["pages"]
            _reply({"ok": True, "pages": read_pdf_pages(data, options, int(first), last).to_json()})
            return
        document = parse_document(data, kind=DocKind(request["kind"]), options=options)
    except TridiumError as exc:
        _reply({"ok": False, "error": exc.code, "reason": getattr(exc, "reason", exc.message), "details": exc.details})
        return
    except MemoryError:
        _reply(
            {"ok": False, "error": "parse_failed", "reason": _memory_reason(request), "details": {"limit": "memory"}}
        )
        return
    except RecursionError:
        _reply({"ok": False, "error": "parse_failed", "reason": "the document is nested too deeply to read"})
        return
    except Exception as exc:  # noqa: BLE001 - hostile input: any library failure is a parse failure
        _reply({"ok": False, "error": "parse_failed", "reason": f"the file could not be read ({type(exc).__name__})"})
        return
    _reply({"ok": True, "document": document.to_json()})


def _memory_reason(request: dict[str, Any]) -> str:
    mib = int(request["limits"]["memory_bytes"]) // (1024 * 1024)
    return f"parsing needed more than {mib} MiB of memory and was stopped"


if __name__ == "__main__":
    main()
