"""Parse untrusted uploads in a throwaway process with hard limits.

Parsers are native code (PDFium, libxml2, Tesseract) fed with bytes from strangers. A
crafted file can make them allocate without bound, spin forever or crash outright, so the
parse runs in a fresh Python process that

* caps its own address space (``RLIMIT_AS``, default 1 GiB) and CPU time (``RLIMIT_CPU``)
  before importing any parser, and cannot write large files or dump core;
* is killed, with its whole process group (Tesseract included), when the wall-clock timeout
  (default 60 s) passes;
* answers with JSON on stdout, never pickle, so a compromised child cannot run code in us.

Every way it can go wrong ends in ``ParseFailed`` with a reason the uploader can read (or
``UnsupportedMediaType`` / ``PayloadTooLarge`` / ``DependencyUnavailable`` where that is
the truth); nothing here raises a bare exception for bad input.

``parse_in_sandbox`` blocks while the child runs: call it from a thread
(``asyncio.to_thread``) or a Ray task, never directly inside ``async def``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import DependencyUnavailable, PayloadTooLarge, TridiumError, UnsupportedMediaType
from knowledge.errors import ParseFailed
from knowledge.parsing import MAX_INPUT_BYTES
from knowledge.parsing.model import ParsedDocument, ParseOptions
from knowledge.parsing.pdf_pages import PdfPages
from knowledge.sniff import DocKind, sniff_bytes

_WORKER_MODULE = "knowledge._sandbox_worker"
_INHERITED_ENV = (
    "PATH",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TMPDIR",
    "TESSDATA_PREFIX",
    "OPENBLAS_CORETYPE",  # set on some CPUs where older OpenBLAS builds misbehave
    "OPENBLAS_L2_SIZE",
)
_STDERR_TAIL = 2_000
# How a child that ran out of memory says so: Python, glibc and C++ (Tesseract) spellings.
_MEMORY_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory")
_ERRORS: dict[str, type[TridiumError]] = {
    "parse_failed": ParseFailed,
    "unsupported_media_type": UnsupportedMediaType,
    "payload_too_large": PayloadTooLarge,
    "dependency_unavailable": DependencyUnavailable,
}


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    memory_bytes: int = 1024 * 1024 * 1024
    cpu_seconds: int = 60
    wall_seconds: float = 60.0
    max_output_file_bytes: int = 256 * 1024 * 1024  # RLIMIT_FSIZE: temp files of the parsers


def _child_env() -> dict[str, str]:
    """A minimal environment: the parser has no business seeing our database URL or API keys."""
    env = {key: os.environ[key] for key in _INHERITED_ENV if key in os.environ}
    # The child must import exactly what we import; it gets our path, not the cwd's.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    # Thread pools reserve address space per thread; under RLIMIT_AS that is wasted budget.
    env.update(OMP_THREAD_LIMIT="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def parse_in_sandbox(
    data: bytes,
    *,
    filename: str | None = None,
    options: ParseOptions | None = None,
    limits: SandboxLimits | None = None,
) -> ParsedDocument:
    """Sniff ``data`` here, then parse it in a limited child process and return the result."""
    options = options or ParseOptions()
    limits = limits or SandboxLimits()
    _check_size(data)
    kind = sniff_bytes(data, filename=filename).kind  # cheap, reads headers only; errors are 415s
    reply = _run_child({"kind": kind.value, "options": asdict(options), "limits": asdict(limits)}, data, limits)
    try:
        return ParsedDocument.from_json(reply["document"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseFailed("the parser returned an invalid result") from exc


def parse_pdf_pages_in_sandbox(
    data: bytes,
    first: int,
    last: int | None,
    *,
    options: ParseOptions | None = None,
    limits: SandboxLimits | None = None,
) -> PdfPages:
    """Pages ``first..last`` of a PDF (1-based, inclusive), read in a limited child process
    with the same caps as a whole-file parse; merge ranges with ``pdf_document``."""
    options = options or ParseOptions()
    limits = limits or SandboxLimits()
    _check_size(data)
    request = {
        "kind": DocKind.PDF.value,
        "pages": [first, last],
        "options": asdict(options),
        "limits": asdict(limits),
    }
    reply = _run_child(request, data, limits)
    try:
        return PdfPages.from_json(reply["pages"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParseFailed("the parser returned an invalid result") from exc


def _check_size(data: bytes) -> None:
    if len(data) > MAX_INPUT_BYTES:
        raise PayloadTooLarge(f"the file has {len(data)} bytes (limit {MAX_INPUT_BYTES})")


def _run_child(request: dict[str, Any], data: bytes, limits: SandboxLimits) -> dict[str, Any]:
    """Run the worker on ``data``; its successful reply, or the error it stands for."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "utf8", "-m", _WORKER_MODULE, json.dumps(request)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=_child_env(),
        start_new_session=True,  # its own process group, so a kill takes Tesseract along
        close_fds=True,
    )
    try:
        stdout, stderr = proc.communicate(input=data, timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.communicate()
        raise ParseFailed(
            f"parsing took longer than {limits.wall_seconds:g} s and was stopped",
            details={"limit": "wall_clock", "seconds": limits.wall_seconds},
        ) from None
    finally:
        if proc.poll() is None:  # e.g. KeyboardInterrupt while waiting
            _kill_group(proc)
            proc.wait()
    _kill_group(proc)  # reap stragglers: a parser's own children must not outlive the parse
    return _result(proc.returncode, stdout, stderr, limits)


def raise_reply_error(reply: dict[str, Any]) -> None:
    """Re-raise the error a reply carries (``{"ok": false, "error": code, ...}``), if any.

    The same JSON travels from the child process and from a Ray page-range task."""
    if reply.get("ok"):
        return
    error = _ERRORS.get(str(reply.get("error")))
    if error is None:
        raise ParseFailed(str(reply.get("reason") or "the parser failed"))
    raise error(str(reply.get("reason") or "the parser failed"), details=reply.get("details"))


def _result(returncode: int, stdout: bytes, stderr: bytes, limits: SandboxLimits) -> dict[str, Any]:
    reply = _reply(stdout)
    if returncode == 0 and reply is not None:
        if reply.get("ok"):
            return reply
        if str(reply.get("error")) in _ERRORS:
            raise_reply_error(reply)
    tail = stderr[-_STDERR_TAIL:].decode("utf-8", "replace")
    if returncode == -signal.SIGXCPU:
        raise ParseFailed(
            f"parsing used more than {limits.cpu_seconds} s of CPU and was stopped",
            details={"limit": "cpu", "seconds": limits.cpu_seconds},
        )
    if any(marker in tail for marker in _MEMORY_MARKERS):
        raise ParseFailed(
            f"parsing needed more than {limits.memory_bytes // (1024 * 1024)} MiB of memory and was stopped",
            details={"limit": "memory", "bytes": limits.memory_bytes},
        )
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        raise ParseFailed(f"the parser crashed on this file ({name})", details={"signal": name})
    raise ParseFailed(f"the parser failed on this file (exit status {returncode})", details={"exit_status": returncode})


def _reply(stdout: bytes) -> dict[str, Any] | None:
    try:
        reply = json.loads(stdout)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return reply if isinstance(reply, dict) else None


__all__ = ["SandboxLimits", "parse_in_sandbox", "parse_pdf_pages_in_sandbox", "raise_reply_error"]
