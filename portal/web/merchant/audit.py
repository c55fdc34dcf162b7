"""The audit log viewer (``/merchant/audit``), filterable by return, user and date.

Filters are plain GET parameters, so a filtered view is a link one can share.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Template

from portal.merchant.audit_log import AuditFilter, AuditQueryError, parse_date, search
from portal.models.staff import StaffUser
from portal.web.deps import DbSession


@get("/audit", name="merchant.audit")
async def audit_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    params = request.query_params
    raw = {k: str(params.get(k) or "") for k in ("rma", "actor", "from", "to", "page")}
    result, error = None, None
    try:
        filters = AuditFilter(
            rma=raw["rma"],
            actor=raw["actor"],
            date_from=parse_date(raw["from"], "The start date"),
            date_to=parse_date(raw["to"], "The end date"),
        )
        page = int(raw["page"]) if raw["page"].isdigit() else 1
        result = await search(db_session, filters, page)
    except AuditQueryError as exc:
        error = str(exc)
    return Template(
        "merchant/audit.html",
        context={"user": staff_user, "filters": raw, "result": result, "error": error},
        status_code=400 if error else 200,
    )


audit_handlers = [audit_page]
