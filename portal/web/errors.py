"""Error pages for people, JSON for machines."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Template

from portal.errors import DomainError
from portal.web.auth import login_redirect
from portal.web.error_views import prepared_error_response

MACHINE_PREFIXES = ("/api/", "/hooks/", "/healthz", "/readyz", "/schema")


def _for_machines(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(MACHINE_PREFIXES)


def _json(exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["errors"] = exc.extra
    return Response(
        body, status_code=exc.status_code, media_type=MediaType.JSON, headers=_headers(exc)
    )


def http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if _for_machines(request):
        return _json(exc)
    if isinstance(exc, NotAuthorizedException):
        return login_redirect(request)
    if isinstance(exc, ValidationException):
        detail = "Some of what was sent could not be read. Please check the form and try again."
    else:
        detail = exc.detail
    return Template(
        "errors/error.html",
        context={"status_code": exc.status_code, "detail": detail},
        status_code=exc.status_code,
        headers=_headers(exc),
    )


def _headers(exc: HTTPException) -> dict[str, str]:
    """The exception's headers; a 429 from Litestar's rate limit also says ``Retry-After``."""
    headers = dict(exc.headers or {})
    reset = headers.get("RateLimit-Reset")
    if exc.status_code == 429 and "Retry-After" not in headers and reset is not None:
        headers["Retry-After"] = str(max(1, int(reset)))
    return headers


def domain_error(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Every domain error that leaves a controller, mapped to HTTP here and only here.

    The transaction was rolled back by the session dependency. Under ``/api/`` (and other
    machine paths) the answer is JSON ``{"detail", "errors"}``; for pages it is what the
    controller declared with ``on_domain_error`` (the form again, with the message), or
    else the plain error page. The status comes from the error's kind: never a 500.
    """
    if _for_machines(request):
        return Response(exc.as_json(), status_code=exc.status_code, media_type=MediaType.JSON)
    prepared = prepared_error_response(request)
    if prepared is not None:
        return prepared
    return Template(
        "errors/error.html",
        context={"status_code": exc.status_code, "detail": exc.message},
        status_code=exc.status_code,
    )
