"""HTTP helpers every service shares: problem+json errors for everything Litestar or a route refuses."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import ClientException, HTTPException, SerializationException, ValidationException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.problem_details import ProblemDetailsException

from verdicts.platform.validation import litestar_errors

PROBLEM_TYPE_BASE = "https://verdicts.dev/problems/"


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemDetailsException:
    """An RFC 9457 problem; ``code`` becomes its machine-readable ``type``."""
    return ProblemDetailsException(
        detail=detail,
        status_code=status,
        type_=PROBLEM_TYPE_BASE + code,
        title=title,
        headers=headers,
        extra={"code": code, **extra} if extra or code else None,
    )


def too_large(max_bytes: int) -> ProblemDetailsException:
    return problem(
        413,
        "body-too-large",
        "Request body too large",
        f"the body is over the limit of {max_bytes} bytes",
        field="body",
        limit_bytes=max_bytes,
    )


# Litestar validates typed ``data`` bodies itself; these turn its answers into our problems.
_MALFORMED_MARKERS = ("JSON is malformed", "Input data was truncated", "Invalid JSON")


def validation_problem(request: Request[Any, Any, Any], exc: ClientException) -> Response[Any]:
    """Litestar's request validation failure as a problem: 400 malformed JSON, else 422 per field."""
    detail = str(exc.detail or "")
    if isinstance(exc.__cause__, SerializationException) or any(m in detail for m in _MALFORMED_MARKERS):
        failure = problem(400, "malformed-json", "Malformed JSON", detail, field="body")
    else:
        errors = litestar_errors(exc.extra, detail)
        failure = problem(
            422,
            "validation-failed",
            "Invalid request",
            f"invalid field {errors[0]['field']}: {errors[0]['message']}",
            errors=errors,
            field=errors[0]["field"],
        )
    return failure.to_response(request)


def client_problem(request: Request[Any, Any, Any], exc: ClientException) -> Response[Any]:
    """Litestar's 4xx answers as our problems: bodies that do not parse are ``malformed-json``."""
    if isinstance(exc, ValidationException) or isinstance(exc.__cause__, SerializationException):
        return validation_problem(request, exc)
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    status = exc.status_code
    code = HTTPStatus(status).phrase.lower().replace(" ", "-")
    return problem(status, code, HTTPStatus(status).phrase, str(exc.detail or "")).to_response(request)


async def json_body(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for routes whose ``data`` is JSON: anything else is a 415, before the body is read.
    (Async: Litestar runs a sync guard in a worker thread.)"""
    media_type = connection.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the body as application/json (got {media_type or 'no content type'})",
            field="content-type",
        )


def not_utf8(request: Request[Any, Any, Any], _: UnicodeDecodeError) -> Response[Any]:
    """A JSON body that is not UTF-8 is malformed (Litestar's decoder lets this error through)."""
    return problem(
        400, "malformed-json", "Malformed JSON", "the body is not UTF-8", field="body"
    ).to_response(request)


def body_too_large(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's 413 (``request_max_body_size``) as our problem; a route's own 413 stays as it is."""
    if isinstance(exc, ProblemDetailsException):
        return exc.to_response(request)
    limit = getattr(request.scope.get("route_handler"), "resolve_request_max_body_size", lambda: None)()
    return (
        too_large(limit).to_response(request)
        if limit
        else problem(
            413,
            "body-too-large",
            "Request body too large",
            "the body is over this route's limit",
            field="body",
        ).to_response(request)
    )
