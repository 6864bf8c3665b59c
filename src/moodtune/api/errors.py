"""The one place where moodtune errors become HTTP statuses and the JSON error envelope."""

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from moodtune.catalog.db import is_outage
from moodtune.errors import (
    BadImage,
    InvalidInput,
    LoginRequired,
    ModelError,
    MoodtuneError,
    NoFace,
    NotAnalysed,
    NotFound,
    NotShared,
    Revoked,
    SourceAuth,
    SourceUnavailable,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)

__all__ = ["STATUS", "error_response", "install_error_handlers"]

log = logging.getLogger(__name__)

#: Error class -> HTTP status, looked up along the exception's MRO (most specific first).
STATUS: dict[type[MoodtuneError], int] = {
    MoodtuneError: 500,
    InvalidInput: 400,
    BadImage: 400,
    UnsupportedMedia: 415,
    TooLarge: 413,
    NoFace: 422,
    NotFound: 404,
    NotAnalysed: 409,
    NotShared: 409,
    Revoked: 410,
    Unavailable: 503,
    SourceUnavailable: 503,
    SourceAuth: 502,
    LoginRequired: 401,
    ModelError: 500,
}
_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}}, status_code=status
    )


def _status_of(exc: MoodtuneError) -> int:
    return next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)


#: Seconds a client should wait before retrying a 503 (the database probe runs twice as often).
RETRY_AFTER_S = 1


def _answer(
    request: Request, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JSONResponse:
    """The error envelope, counted by its code (``moodtune_errors_total``)."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.errors.labels(code).inc()
    return error_response(status, code, message, details)


async def _moodtune_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, MoodtuneError)
    response = _answer(request, _status_of(exc), exc.code, exc.message, exc.details)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that stopped answering is an outage (503, one warning), not a bug (500)."""
    if not is_outage(exc):
        return await _unexpected(request, exc)
    health = getattr(request.app.state, "db_health", None)
    if health is not None:
        health.failed(exc)
    reason = type(getattr(exc, "orig", None) or exc).__name__
    return await _moodtune_error(
        request, Unavailable("the database is unreachable; try again shortly", reason=reason)
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI's "error parsing the body": bytes that are not JSON
        return _answer(
            request,
            422,
            "validation_error",
            "the request body is not valid JSON",
            {"errors": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]},
        )
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    response = _answer(request, exc.status_code, code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        response.headers["Allow"] = ", ".join(allowed)
    return response


def _allowed_methods(request: Request) -> list[str] | None:
    """Every method the API documents at this path (None for paths outside the schema).
    Starlette's own 405 names only the first route's, and GET and POST /playlists are two."""
    methods = {
        method.upper()
        for template, operations in request.app.openapi()["paths"].items()
        if re.fullmatch(re.sub(r"\{[^/]+\}", "[^/]+", template), request.url.path)
        for method in operations
    }
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods) or None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"] if p != "body") or "request"
    return _answer(request, 422, "validation_error", f"{where}: {first['msg']}", {"errors": errors})


async def _changed_meanwhile(request: Request, exc: Exception) -> JSONResponse:
    """A row this request was updating was deleted by another request at the same moment
    (a playlist renamed while it is deleted): for this request it no longer exists."""
    return await _moodtune_error(
        request, NotFound("it was deleted by another request at the same time")
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(request, 500, "internal", "Internal server error.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MoodtuneError, _moodtune_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)
    app.add_exception_handler(StaleDataError, _changed_meanwhile)
    app.add_exception_handler(Exception, _unexpected)
