"""Returns analytics (``/merchant/analytics``): figures, SVG charts with tables, CSV.

The date range is plain GET parameters, so a view is a link and the CSV link carries it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import Response, Template

from portal.merchant.analytics import (
    AnalyticsError,
    bar_chart,
    build_report,
    default_range,
    report_csv,
)
from portal.models.base import utcnow
from portal.models.staff import StaffUser
from portal.web.deps import DbSession

REASON_LABELS = {
    "too_small": "Too small",
    "too_large": "Too large",
    "changed_mind": "Changed mind",
    "not_as_described": "Not as described",
    "damaged": "Damaged",
    "wrong_item": "Wrong item",
}


def _range(request: Request[Any, Any, Any]) -> tuple[date, date, dict[str, str]]:
    params = request.query_params
    raw = {"from": str(params.get("from") or ""), "to": str(params.get("to") or "")}
    start, end = default_range(utcnow().date())
    try:
        if raw["from"]:
            start = date.fromisoformat(raw["from"])
        if raw["to"]:
            end = date.fromisoformat(raw["to"])
    except ValueError:
        raise AnalyticsError("Dates must look like 2026-11-23.") from None
    return start, end, {"from": start.isoformat(), "to": end.isoformat()}


@get("/analytics", name="merchant.analytics")
async def analytics_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    context: dict[str, Any] = {"user": staff_user, "report": None, "error": None, "charts": {}}
    try:
        start, end, context["range"] = _range(request)
        report = await build_report(db_session, start, end)
    except AnalyticsError as exc:
        context["error"] = str(exc)
        context["range"] = {
            "from": str(request.query_params.get("from") or ""),
            "to": str(request.query_params.get("to") or ""),
        }
        return Template("merchant/analytics.html", context=context, status_code=400)
    context["report"] = report
    context["charts"] = {
        "week": bar_chart("Returns by week (week starting)", report.by_week),
        "reason": bar_chart(
            "Units by reason", [(REASON_LABELS.get(k, k), v) for k, v in report.by_reason]
        ),
        "product": bar_chart("Units by product", report.by_product),
        "variant": bar_chart("Units by variant", report.by_variant),
        "resolution": bar_chart(
            "Units by resolution", [(k.replace("_", " "), v) for k, v in report.resolutions]
        ),
    }
    return Template("merchant/analytics.html", context=context)


@get("/analytics.csv", name="merchant.analytics_csv")
async def analytics_csv(request: Request[Any, Any, Any], db_session: DbSession) -> Response[str]:
    try:
        start, end, _ = _range(request)
        report = await build_report(db_session, start, end)
    except AnalyticsError as exc:
        return Response(str(exc), status_code=400, media_type="text/plain; charset=utf-8")
    return Response(
        report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="returns-{start}-to-{end}.csv"'},
    )


analytics_handlers = [analytics_page, analytics_csv]
