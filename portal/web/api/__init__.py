"""The store's API (``/api/v1``): bearer API tokens, JSON in and out.

A refused request (any ``DomainError``: bad input 422 for ingest, unknown code 404,
conflict 409, …) is answered ``{"detail": ..., "errors": ...}`` by the app's exception
handler (``portal.web.errors.domain_error``), its transaction rolled back."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from portal.accounts import verify_api_token
from portal.catalog import parse_products, upsert_products
from portal.orders import FieldError, IngestError, parse_order, upsert_order
from portal.web.api.body import UnreadableBody, json_body
from portal.web.api.store_credit import redeem_credit
from portal.web.deps import DbSession, provide_session


async def api_token_guard(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    header = connection.headers.get("authorization", "")
    scheme, _sep, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise NotAuthorizedException(
            "Send an API token as 'Authorization: Bearer <token>' (create one with "
            "`portal tokens create`).",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with connection.app.state.db.session() as session:
        token = await verify_api_token(session, secret.strip())
    if token is None:
        raise NotAuthorizedException(
            "Invalid or revoked API token.", headers={"WWW-Authenticate": "Bearer"}
        )
    connection.scope.setdefault("state", {})["api_token"] = token


def _actor(request: Request[Any, Any, Any]) -> str:
    token = request.scope["state"]["api_token"]
    return f"api:{token.name}"


async def _json_body(request: Request[Any, Any, Any]) -> Any:
    try:
        return await json_body(request)
    except UnreadableBody as exc:
        reason = "nested too deeply" if "deeply" in str(exc) else "not valid JSON"
        raise IngestError([FieldError("body", reason)]) from None


@post("/orders", summary="Create or update an order by its number")
async def push_order(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    incoming = parse_order(await _json_body(request))  # IngestError: 422 with every field
    result = await upsert_order(db_session, incoming, _actor(request))
    await db_session.commit()
    return Response(
        {"number": result.order.number, "id": result.order.id, "created": result.created},
        status_code=201 if result.created else 200,
    )


@post("/products", summary="Create or update products, variants and stock")
async def push_products(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    products = parse_products(await _json_body(request))
    count = await upsert_products(db_session, products, _actor(request))
    return Response({"upserted": count}, status_code=200)


api_router = Router(
    path="/api/v1",
    route_handlers=[push_order, push_products, redeem_credit],
    guards=[api_token_guard],
    dependencies={"db_session": Provide(provide_session)},
    tags=["store API"],
)
