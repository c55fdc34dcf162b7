"""The finance area (``/finance``): the refund queue, decisions, store credit, reports.

Controllers parse, authorize and render; the rules live in ``portal.money``. Every form
works without JavaScript (post, then redirect back with a message); with HTMX the queue
table refreshes in place when filters change.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from portal.integrations import make_payments
from portal.models.money import RefundStatus
from portal.models.staff import StaffUser
from portal.money.approvals import (
    approvals_needed,
    approve,
    bulk_approve,
    bulk_reject,
    mark_paid,
    reject,
    retry_failed,
)
from portal.money.credit import expire_code, reverse
from portal.money.queue import QueueFilters, filter_choices, refund_detail, refund_queue
from portal.money.reports import daily_report, reconcile, report_csv
from portal.payments import PaymentsError
from portal.returns.settlement import load_settlement
from portal.web.auth import provide_staff_user, requires_role
from portal.web.deps import DbSession, provide_session
from portal.web.error_views import back_to, on_domain_error

FormData = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


def _threshold(request: Request[Any, Any, Any]) -> int:
    return request.app.state.settings.four_eyes_threshold


def _back(path: str, *, done: str = "", error: str = "") -> Redirect:
    query = urlencode({k: v for k, v in (("done", done), ("error", error)) if v})
    return Redirect(f"{path}?{query}" if query else path, status_code=303)


def _actor(user: StaffUser) -> str:
    return f"user:{user.email}"


@get("/", name="finance.home")
async def finance_home(
    request: HTMXRequest, staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Template:
    params = dict(request.query_params)
    filters = QueueFilters.parse(params)
    rows = [] if filters.errors else await refund_queue(db_session, filters)
    context = {
        "user": staff_user,
        "rows": rows,
        "filters": filters,
        "choices": await filter_choices(db_session),
        "threshold": _threshold(request),
        "done": params.get("done", ""),
        "error": params.get("error", ""),
    }
    name = "_partials/finance/queue_table.html" if request.htmx else "finance/index.html"
    return Template(name, context=context, status_code=400 if filters.errors else 200)


@get("/refunds/{refund_id:int}", name="finance.refund")
async def refund_page(
    refund_id: FromPath[int],
    request: Request[Any, Any, Any],
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Template:
    detail = await refund_detail(db_session, refund_id)
    if detail is None:
        raise NotFoundException(f"There is no refund {refund_id}.")
    return Template(
        "finance/refund.html",
        context={
            **detail,
            "settlement": await load_settlement(db_session, detail["ret"].id, ret=detail["ret"]),
            "user": staff_user,
            "needed": approvals_needed(detail["refund"].amount, _threshold(request)),
            "done": request.query_params.get("done", ""),
            "error": request.query_params.get("error", ""),
        },
    )


@post("/refunds/{refund_id:int}/approve", name="finance.approve", status_code=303)
async def approve_one(
    refund_id: FromPath[int],
    request: Request[Any, Any, Any],
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    on_domain_error(request, back_to(f"/finance/refunds/{refund_id}"))
    outcome = await approve(db_session, refund_id, staff_user, threshold=_threshold(request))
    _wake(request)
    return _back(f"/finance/refunds/{refund_id}", done=outcome.message)


@post("/refunds/{refund_id:int}/reject", name="finance.reject", status_code=303)
async def reject_one(
    refund_id: FromPath[int],
    data: FormData,
    request: Request[Any, Any, Any],
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    on_domain_error(request, back_to(f"/finance/refunds/{refund_id}"))
    await reject(
        db_session,
        refund_id,
        staff_user,
        str(data.get("reason", "")),
        shopper_message=str(data.get("shopper_message", "")),
    )
    _wake(request)
    return _back(
        f"/finance/refunds/{refund_id}", done=f"Refund {refund_id} rejected; the shopper is told"
    )


@post("/refunds/{refund_id:int}/paid", name="finance.paid", status_code=303)
async def mark_one_paid(
    refund_id: FromPath[int],
    data: FormData,
    request: Request[Any, Any, Any],
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    on_domain_error(request, back_to(f"/finance/refunds/{refund_id}"))
    await mark_paid(db_session, refund_id, staff_user, str(data.get("reference", "")))
    return _back(f"/finance/refunds/{refund_id}", done=f"Refund {refund_id} marked paid")


@post("/refunds/{refund_id:int}/retry", name="finance.retry", status_code=303)
async def retry_one(
    refund_id: FromPath[int],
    request: Request[Any, Any, Any],
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    on_domain_error(request, back_to(f"/finance/refunds/{refund_id}"))
    retry = await retry_failed(db_session, refund_id, staff_user)
    _wake(request)
    return _back(f"/finance/refunds/{retry.id}", done=f"Retrying as refund {retry.id}")


@post("/refunds/bulk-approve", name="finance.bulk_approve", status_code=303)
async def bulk_approve_form(
    request: Request[Any, Any, Any], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Redirect:
    form = await request.form()
    ids = [int(v) for v in form.getall("refund_id", []) if str(v).isdigit()]
    if not ids:
        return _back("/finance/", error="Tick at least one refund to approve.")
    done, errors = await bulk_approve(db_session, ids, staff_user, threshold=_threshold(request))
    _wake(request)
    message = f"{sum(o.status == RefundStatus.APPROVED for o in done)} approved"
    waiting = sum(o.status == RefundStatus.PENDING_APPROVAL for o in done)
    if waiting:
        message += f", {waiting} waiting for a second approver"
    error = "; ".join(f"{rid}: {msg}" for rid, msg in errors.items())
    return _back("/finance/", done=message, error=error[:1500])


@post("/refunds/bulk-reject", name="finance.bulk_reject", status_code=303)
async def bulk_reject_form(
    request: Request[Any, Any, Any], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Redirect:
    form = await request.form()
    ids = [int(v) for v in form.getall("refund_id", []) if str(v).isdigit()]
    if not ids:
        return _back("/finance/", error="Tick at least one refund to reject.")
    on_domain_error(request, back_to("/finance/"))
    done, errors = await bulk_reject(
        db_session,
        ids,
        staff_user,
        str(form.get("reason") or ""),
        shopper_message=str(form.get("shopper_message") or ""),
    )
    _wake(request)

    error = "; ".join(f"{rid}: {msg}" for rid, msg in errors.items())
    return _back("/finance/", done=f"{len(done)} rejected", error=error[:1500])


@get("/reports", name="finance.reports")
async def reports_page(
    request: Request[Any, Any, Any], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Template | Response[str]:
    start, end, error = _period(request.query_params)
    rows = [] if error else await daily_report(db_session, start, end)
    if request.query_params.get("format") == "csv" and not error:
        return Response(
            report_csv(rows),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="finance-{start}-{end}.csv"'},
        )
    return Template(
        "finance/reports.html",
        context={"rows": rows, "start": start, "end": end, "error": error, "user": staff_user},
        status_code=400 if error else 200,
    )


EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(2999, 12, 31)
"""The dates a report may cover (the calendar's ends would overflow a day's bounds)."""


def _period(params: Any) -> tuple[date, date, str]:
    today = date.today()
    try:
        start = date.fromisoformat(params.get("start") or (today - timedelta(days=30)).isoformat())
        end = date.fromisoformat(params.get("end") or today.isoformat())
    except ValueError:
        return today, today, "Dates must look like 2026-11-23."
    if not (start >= EARLIEST_DAY and end <= LATEST_DAY):
        return today, today, f"Dates must be between {EARLIEST_DAY} and {LATEST_DAY}."
    if end < start:
        return start, end, "The end date is before the start date."
    return start, end, ""


@get("/reconciliation", name="finance.reconciliation")
async def reconciliation_page(
    request: Request[Any, Any, Any], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Template:
    payments = make_payments(request.app.state.settings)
    error = ""
    differences: list[Any] = []
    try:
        differences = await reconcile(db_session, payments)
    except PaymentsError as exc:
        error = str(exc)
    return Template(
        "finance/reconciliation.html",
        context={
            "differences": differences,
            "payments": payments,
            "error": error,
            "user": staff_user,
        },
    )


@get("/store-credit", name="finance.credit")
async def credit_page(
    request: Request[Any, Any, Any], staff_user: NamedDependency[StaffUser]
) -> Template:
    return Template(
        "finance/store_credit.html",
        context={
            "user": staff_user,
            "done": request.query_params.get("done", ""),
            "error": request.query_params.get("error", ""),
        },
    )


@post("/store-credit/reverse", name="finance.credit.reverse", status_code=303)
async def credit_reverse(
    request: Request[Any, Any, Any],
    data: FormData,
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    raw = str(data.get("amount", "")).strip()
    if not raw.isdigit() or int(raw) <= 0:
        return _back("/finance/store-credit", error="The amount must be a positive whole number.")
    on_domain_error(request, back_to("/finance/store-credit"))
    result = await reverse(
        db_session,
        str(data.get("code", "")),
        int(raw),
        key=str(
            data.get("key") or f"{staff_user.id}:{data.get('code')}:{raw}:{data.get('reason')}"
        )[:100],
        actor=_actor(staff_user),
        reason=str(data.get("reason", "")),
    )
    return _back(
        "/finance/store-credit", done=f"Reversed {result.amount}; balance {result.balance}"
    )


@post("/store-credit/expire", name="finance.credit.expire", status_code=303)
async def credit_expire(
    request: Request[Any, Any, Any],
    data: FormData,
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect:
    on_domain_error(request, back_to("/finance/store-credit"))
    result = await expire_code(
        db_session, str(data.get("code", "")).strip().upper(), actor=_actor(staff_user)
    )
    done = "Nothing left to expire" if result is None else f"Expired {result.amount}"
    return _back("/finance/store-credit", done=done)


def _wake(request: Request[Any, Any, Any]) -> None:
    runner = request.app.state.runner
    if runner is not None:
        runner.wake()


finance_router = Router(
    path="/finance",
    route_handlers=[
        finance_home,
        refund_page,
        approve_one,
        reject_one,
        mark_one_paid,
        retry_one,
        bulk_approve_form,
        bulk_reject_form,
        reports_page,
        reconciliation_page,
        credit_page,
        credit_reverse,
        credit_expire,
    ],
    guards=[requires_role("finance")],
    dependencies={
        "staff_user": Provide(provide_staff_user),
        "db_session": Provide(provide_session),
    },
    include_in_schema=False,
)
