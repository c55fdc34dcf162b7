"""``POST /api/v1/store-credit/redeem``: the store spends credit at checkout.

Body ``{"code": "...", "amount": 1234}`` (minor units) and an ``Idempotency-Key`` header;
the same key returns the first answer. A balance never goes below zero, whatever the
concurrency (the code's row is locked while the balance is read and written).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from portal.money.credit import redeem
from portal.web.api.body import UnreadableBody, json_body
from portal.web.deps import DbSession


def _error(message: str, status: int) -> Response[dict[str, Any]]:
    return Response({"detail": message}, status_code=status)


def _printable_ascii(text: str) -> bool:
    """Codes are short printable ASCII; anything else (a lone surrogate, say) is no code."""
    return len(text) <= 100 and text.isascii() and text.isprintable()


@post("/store-credit/redeem", summary="Redeem store credit (Idempotency-Key required)")
async def redeem_credit(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    key = request.headers.get("idempotency-key", "").strip()
    if not key or len(key) > 100:
        return _error("Send an Idempotency-Key header (1 to 100 characters).", 400)
    try:
        body = await json_body(request)
    except UnreadableBody as exc:
        return _error(str(exc), 422)
    code, amount = (
        (body.get("code"), body.get("amount")) if isinstance(body, dict) else (None, None)
    )
    if not isinstance(code, str) or not code.strip() or not _printable_ascii(code):
        return _error("'code' must be the store-credit code.", 422)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        return _error("'amount' must be a positive integer in minor units.", 422)
    token = request.scope["state"]["api_token"]
    result = await redeem(db_session, code, amount, key=key, actor=f"api:{token.name}")
    return Response(
        {
            "code": result.code,
            "redeemed": result.amount,
            "balance": result.balance,
            "entry_id": result.entry_id,
            "replayed": result.replayed,
        },
        status_code=200 if result.replayed else 201,
    )
