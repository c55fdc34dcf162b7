"""The policy editor (``/merchant/policy``): validate, preview, backtest, publish, history.

One form holds the textarea; its buttons post the current text to different actions, so
everything works without JavaScript. HTMX only swaps the validation, preview and
backtest panels in place (always with status 200, since htmx does not swap errors).
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, time
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Response, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.merchant import policy_editor as editor
from portal.merchant.policy_editor import EditorError, PolicyLoadError
from portal.models.staff import StaffUser
from portal.policy.versions import active_version, compiled, list_versions
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error

DEFAULT_DAYS = 30
BACKTEST_LABELS = [
    ("returns", "Returns replayed"),
    ("returns_changed", "Returns whose outcome changes"),
    ("lines", "Lines replayed"),
    ("lines_became_eligible", "Lines that become returnable"),
    ("lines_became_ineligible", "Lines that stop being returnable"),
    ("lines_resolutions_changed", "Lines offered other resolutions"),
    ("lines_restocking_fee_changed", "Lines with another restocking fee"),
    ("returns_label_fee_changed", "Returns with another label fee"),
    ("requests_now_invalid", "Requests the draft can't read (unknown reason)"),
]
MONEY_LABELS = [
    ("refund_total", "Refunds"),
    ("store_credit_total", "Store credit"),
    ("restocking_fees", "Restocking fees"),
    ("label_fees", "Label fees"),
]


def _text(form: FormMultiDict) -> str:
    """The textarea's text with browser line endings normalised."""
    return str(form.get("text") or "").replace("\r\n", "\n")


def _base(form: FormMultiDict) -> int | None:
    raw = str(form.get("base_version") or "").strip()
    return int(raw) if raw.isdigit() else None


def _days(form: FormMultiDict) -> int | None:
    raw = str(form.get("days") or "").strip()
    return int(raw) if raw.isdigit() else None


def _reasons(text: str, fallback: str | None) -> list[tuple[str, str]]:
    """Reason codes to offer in the preview: the draft's, or the live policy's if it is bad."""
    for candidate in (text, fallback):
        if not candidate:
            continue
        try:
            return [(r.code, r.label) for r in compiled(candidate, "policy").policy.reasons]
        except PolicyLoadError:
            continue
    return []


async def _context(
    db_session: Any,
    user: StaffUser,
    *,
    text: str | None = None,
    base_version: int | None = None,
    form: FormMultiDict | None = None,
    **extra: Any,
) -> dict[str, Any]:
    state = await editor.editor_state(db_session, user)
    if text is None:
        text, base_version = state.text, state.base_version
    active = state.active
    lines = text.split("\n")
    context: dict[str, Any] = {
        "user": user,
        "text": text,
        "line_count": len(lines),
        "source_lines": lines,
        "base_version": base_version,
        "active": active,
        "from_draft": state.from_draft,
        "draft_saved_at": state.draft_saved_at,
        "validation": editor.validate(text),
        "reasons": _reasons(text, active.yaml_text if active else None),
        "order_number": str(form.get("order_number") or "") if form is not None else "",
        "days": _days(form) if form is not None and _days(form) else DEFAULT_DAYS,
        "form": form or FormMultiDict(),
        "backtest_labels": BACKTEST_LABELS,
        "money_labels": MONEY_LABELS,
        "preview_order": None,
        "preview": None,
        "preview_error": None,
        "backtest": None,
        "backtest_error": None,
        "error": None,
        "message": None,
    }
    context.update(extra)
    return context


def _page(context: dict[str, Any], status: int = 200) -> Template:
    return Template("merchant/policy.html", context=context, status_code=status)


@get("/policy", name="merchant.policy")
async def policy_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    notices = {
        "saved": "Draft saved. Only you see it until you publish.",
        "discarded": "Draft discarded; the editor shows the live policy.",
    }
    return _page(
        await _context(
            db_session, staff_user, message=notices.get(request.query_params.get("done", ""))
        )
    )


@post("/policy/validate", name="merchant.policy.validate", status_code=200)
async def validate_policy(
    request: HTMXRequest, db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    form = await request.form()
    text = _text(form)
    validation = editor.validate(text)
    if request.htmx:
        return Template(
            "_partials/merchant/policy_validation.html",
            context={"validation": validation, "source_lines": text.split("\n")},
        )
    return _page(
        await _context(db_session, staff_user, text=text, base_version=_base(form), form=form)
    )


@post("/policy/draft", name="merchant.policy.draft", status_code=303)
async def save_draft(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Redirect | Template:
    form = await request.form()

    async def edit_again(session: AsyncSession, exc: DomainError) -> Template:
        context = await _context(
            session, staff_user, text=_text(form), base_version=_base(form), error=exc.message
        )
        return _page(context, exc.status_code)

    on_domain_error(request, edit_again)
    await editor.save_draft(db_session, staff_user, _text(form), _base(form))
    return Redirect("/merchant/policy?done=saved", status_code=303)


@post("/policy/draft/discard", name="merchant.policy.discard", status_code=303)
async def discard_draft(db_session: DbSession, staff_user: NamedDependency[StaffUser]) -> Redirect:
    await editor.discard_draft(db_session, staff_user)
    return Redirect("/merchant/policy?done=discarded", status_code=303)


def _items(form: FormMultiDict, order: editor.PreviewOrder) -> list[tuple[str, int, str]]:
    items = []
    for line in order.lines:
        raw = str(form.get(f"qty_{line.line_ref}") or "0").strip()
        quantity = int(raw) if raw.lstrip("-").isdigit() else -1
        if quantity == 0:
            continue
        items.append((line.line_ref, quantity, str(form.get(f"reason_{line.line_ref}") or "")))
    return items


def _as_of(form: FormMultiDict) -> datetime | None:
    """The preview's "today": noon UTC of the chosen day, or now when none is chosen."""
    raw = str(form.get("as_of") or "").strip()
    if not raw:
        return None
    try:
        return datetime.combine(date.fromisoformat(raw), time(12), UTC)
    except ValueError:
        raise EditorError("The preview date must look like 2026-11-23.") from None


@post("/policy/preview", name="merchant.policy.preview", status_code=200)
async def preview_policy(
    request: HTMXRequest, db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    form = await request.form()
    text = _text(form)
    result: dict[str, Any] = {}
    status = 200
    try:
        order = await editor.find_preview_order(db_session, str(form.get("order_number") or ""))
        result["preview_order"] = order
        if form.get("step") != "load":
            result["preview"] = await editor.preview(
                db_session, text, order.number, _items(form, order), _as_of(form)
            )
    except PolicyLoadError:
        result["preview_error"] = (
            "Fix the errors in the policy first; the preview needs a valid draft."
        )
        status = 400
    except EditorError as exc:
        result["preview_error"] = str(exc)
        status = 400
    context = await _context(
        db_session, staff_user, text=text, base_version=_base(form), form=form, **result
    )
    if request.htmx:
        return Template("_partials/merchant/policy_preview.html", context=context)
    return _page(context, status)


@post("/policy/backtest", name="merchant.policy.backtest", status_code=200)
async def backtest_policy(
    request: HTMXRequest, db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    form = await request.form()
    text = _text(form)
    result: dict[str, Any] = {}
    status = 200
    try:
        days = _days(form)
        if days is None:
            raise EditorError("Enter how many days of returns to replay, as a whole number.")
        result["backtest"] = await editor.run_backtest(db_session, text, days)
    except PolicyLoadError:
        result["backtest_error"] = (
            "Fix the errors in the policy first; the backtest needs a valid draft."
        )
        status = 400
    except EditorError as exc:
        result["backtest_error"] = str(exc)
        status = 400
    context = await _context(
        db_session, staff_user, text=text, base_version=_base(form), form=form, **result
    )
    if request.htmx:
        return Template("_partials/merchant/policy_backtest.html", context=context)
    return _page(context, status)


@post("/policy/backtest.csv", name="merchant.policy.backtest_csv", status_code=200)
async def backtest_csv(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Response[str] | Template:
    form = await request.form()
    text = _text(form)
    try:
        days = _days(form)
        if days is None:
            raise EditorError("Enter how many days of returns to replay, as a whole number.")
        report = await editor.run_backtest(db_session, text, days)
    except (PolicyLoadError, EditorError) as exc:
        message = (
            "Fix the errors in the policy first; the backtest needs a valid draft."
            if isinstance(exc, PolicyLoadError)
            else str(exc)
        )
        context = await _context(
            db_session,
            staff_user,
            text=text,
            base_version=_base(form),
            form=form,
            backtest_error=message,
        )
        return _page(context, 400)
    out = io.StringIO()
    report.write_csv(out)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="backtest-{days}-days.csv"'},
    )


@post("/policy/publish", name="merchant.policy.publish", status_code=303)
async def publish_policy(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Redirect | Template:
    form = await request.form()
    text, base = _text(form), _base(form)
    try:
        version = await editor.publish_text(
            db_session, staff_user, text, base, str(form.get("note") or "")
        )
    except PolicyLoadError as exc:
        context = await _context(
            db_session,
            staff_user,
            text=text,
            base_version=base,
            form=form,
            error=f"Not published: the policy has {len(exc.errors)} "
            f"error{'s' if len(exc.errors) != 1 else ''}. The live policy keeps serving.",
        )
        return _page(context, 400)
    except EditorError as exc:
        await editor.save_draft(db_session, staff_user, text, base)
        context = await _context(
            db_session,
            staff_user,
            text=text,
            base_version=base,
            form=form,
            error=f"Not published. {exc}",
        )
        return _page(context, 409)
    return Redirect(f"/merchant/policy/history?published={version.version}", status_code=303)


@get("/policy/history", name="merchant.policy.history")
async def policy_history(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    versions = await list_versions(db_session)
    params = request.query_params
    diff, error = None, None
    old, new = params.get("from", ""), params.get("to", "")
    if old and new:
        if old.isdigit() and new.isdigit():
            try:
                diff = await editor.diff_versions(db_session, int(old), int(new))
            except EditorError as exc:
                error = str(exc)
        else:
            error = "Choose two versions to compare."
    elif len(versions) >= 2:
        old, new = str(versions[1].version), str(versions[0].version)
        diff = await editor.diff_versions(db_session, int(old), int(new))
    return Template(
        "merchant/policy_history.html",
        context={
            "user": staff_user,
            "versions": versions,
            "diff": diff,
            "diff_from": old,
            "diff_to": new,
            "error": error,
            "published": params.get("published"),
            "rolled_back": params.get("rolled_back"),
        },
        status_code=400 if error else 200,
    )


@get("/policy/versions/{number:int}", name="merchant.policy.version")
async def policy_version(
    number: FromPath[int], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    try:
        version = await editor.get_version(db_session, number)
    except EditorError as exc:
        raise NotFoundException(str(exc)) from None
    active = await active_version(db_session)
    return Template(
        "merchant/policy_version.html",
        context={"user": staff_user, "version": version, "active": active},
    )


@post("/policy/rollback/{number:int}", name="merchant.policy.rollback", status_code=303)
async def rollback_policy(
    number: FromPath[int],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Redirect | Template:
    form = await request.form()
    try:
        await editor.rollback_to(
            db_session, staff_user, number, str(form.get("note") or ""), _base(form)
        )
    except (EditorError, PolicyLoadError) as exc:
        versions = await list_versions(db_session)
        return Template(
            "merchant/policy_history.html",
            context={
                "user": staff_user,
                "versions": versions,
                "diff": None,
                "diff_from": "",
                "diff_to": "",
                "error": f"Not rolled back. {exc}",
                "published": None,
                "rolled_back": None,
            },
            status_code=400,
        )
    return Redirect(f"/merchant/policy/history?rolled_back={number}", status_code=303)


policy_handlers = [
    policy_page,
    validate_policy,
    save_draft,
    discard_draft,
    preview_policy,
    backtest_policy,
    backtest_csv,
    publish_policy,
    policy_history,
    policy_version,
    rollback_policy,
]
