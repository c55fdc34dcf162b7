"""Error pages for people, JSON for machines."""

from __future__ import annotations

from typing import Any

from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.response import Template

from portal.web.auth import login_redirect

MACHINE_PREFIXES = ("/api/", "/hooks/", "/healthz", "/readyz", "/schema")


def _for_machines(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith(MACHINE_PREFIXES)


def _json(exc: HTTPException) -> Response[Any]:
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if exc.extra:
        body["errors"] = exc.extra
    return Response(
        body, status_code=exc.status_code, media_type=MediaType.JSON, headers=exc.headers
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
    )
