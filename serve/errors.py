"""The one place where errors become HTTP responses: ``{"error": {code, message, details}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import TridiumError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def from_tridium_error(exc: TridiumError) -> JSONResponse:
    if exc.status >= 500:
        log.error("request failed", extra={"code": exc.code, "error": exc.message})
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]


async def _on_tridium_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TridiumError)
    return from_tridium_error(exc)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    if any(d["type"] == "json_invalid" for d in details):
        return error_response(400, "malformed_json", "request body is not valid JSON", details)
    return error_response(422, "validation_failed", "request validation failed", details)


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # FastAPI turns any error raised while it reads the body into a 400; ours (the edge's
    # body limit on a chunked request, which has no Content-Length) keep status and code.
    if isinstance(exc.__cause__, TridiumError):
        return from_tridium_error(exc.__cause__)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None, dict(exc.headers or {}))


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    # A bug, not client input: log with traceback, answer without internals.
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal", "internal error; the request id identifies it in our logs")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TridiumError, _on_tridium_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)


__all__ = ["error_body", "error_response", "from_tridium_error", "install_error_handlers"]
