"""Browser security headers, set in one place for every response (a ``before_send`` hook).

* ``Content-Security-Policy`` on HTML: scripts and styles from this origin only, plus the
  page's nonce for its few ``<style>`` blocks (``{{ csp_nonce() }}`` in a template); no
  plugins, no framing, forms post here only. Inline ``style=""`` attributes stay allowed
  (``style-src-attr``): the e-mail previews (sandboxed ``srcdoc`` iframes inherit this policy)
  are styled that way, as e-mail must be, and a style attribute cannot run script. Images may
  also be ``data:`` URIs and https URLs (product images and logos live on the store's CDN).
  The Swagger UI under ``/schema`` loads its scripts from a CDN and is left without a CSP.
* ``X-Frame-Options: DENY`` (the app frames no page of its own: its iframes are ``srcdoc``),
  ``X-Content-Type-Options: nosniff``.
* ``Referrer-Policy``: ``no-referrer`` under ``/link/`` (the signed link's token is in the
  path), ``strict-origin-when-cross-origin`` elsewhere.
* ``Cache-Control: no-store`` unless the handler chose one (the logo does), except on
  ``/static/`` (public assets): shopper pages, staff pages and the API all show personal data.
* ``Strict-Transport-Security`` when ``PORTAL_BASE_URL`` is https.
"""

from __future__ import annotations

import secrets
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

NONCE_KEY = "csp_nonce"
HSTS = "max-age=31536000; includeSubDomains"
_UNGUARDED_HTML = ("/schema",)  # Swagger UI: CDN scripts


def content_security_policy(nonce: str | None) -> str:
    style = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            f"style-src {style}",
            f"style-src-elem {style}",
            "style-src-attr 'unsafe-inline'",
            "img-src 'self' data: https:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def request_nonce(scope: Scope) -> str:
    """This request's CSP nonce, made on first use."""
    state = scope.setdefault("state", {})
    nonce = state.get(NONCE_KEY)
    if nonce is None:
        nonce = state[NONCE_KEY] = secrets.token_urlsafe(16)
    return str(nonce)


@pass_context
def csp_nonce(context: Context) -> str:
    """Jinja global: ``<style nonce="{{ csp_nonce() }}">``."""
    request = context.get("request")
    return request_nonce(request.scope) if request is not None else ""


def security_headers_hook(*, hsts: bool) -> Any:
    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        path: str = scope.get("path", "")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault(
            "Referrer-Policy",
            "no-referrer" if path.startswith("/link/") else "strict-origin-when-cross-origin",
        )
        if "cache-control" not in headers and not path.startswith("/static/"):
            headers["Cache-Control"] = "no-store"
        if hsts:
            headers.setdefault("Strict-Transport-Security", HSTS)
        html = headers.get("content-type", "").startswith("text/html")
        if html and not path.startswith(_UNGUARDED_HTML):
            nonce = scope.get("state", {}).get(NONCE_KEY)
            headers["Content-Security-Policy"] = content_security_policy(nonce)

    return before_send
