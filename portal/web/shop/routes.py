"""The shopper's journey: find the order, choose items, choose what you get, review and
confirm, then follow the return. Controllers parse, check access and render; the rules
and transactions are in ``portal.returns``."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.models.base import id_of
from portal.models.orders import Order
from portal.models.outbox import Media
from portal.models.returns import LabelState, Return
from portal.orders import normalise_order_number
from portal.returns.context import (
    LineOutlook,
    exchange_options,
    find_order,
    line_outlooks,
    load_order_context,
)
from portal.returns.create import (
    Assessment,
    Choice,
    ItemRequest,
    Quote,
    ReturnError,
    confirm_return,
    price,
    start_return,
)
from portal.returns.lifecycle import cancel_return
from portal.returns.links import LinkError
from portal.returns.photos import (
    MAX_PHOTO_BYTES,
    PhotoError,
    check_photo,
    photo_file,
    store_photo,
)
from portal.returns.rma import normalise_rma
from portal.returns.shipping import stored_document
from portal.returns.states import can_cancel
from portal.web.auth import load_staff_user
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error
from portal.web.shop.common import (
    NOT_FOUND,
    can_see_order,
    close_order_session,
    draft_choices,
    draft_items,
    ensure_can_see,
    get_draft,
    lookup_allowed,
    lookup_retry_after,
    open_order_session,
    save_draft,
    session_order_id,
    settings_of,
    signer_of,
)
from portal.web.shop.views import (
    RESOLUTION_LABELS,
    address_lines,
    nice_date,
    status_context,
)

LOOKUP_FAILED = (
    "We couldn't find an order with that number and e-mail address or postal code. "
    "Check both and try again."
)
STEPS = ("Items", "Options", "Review")


def _redirect(path: str) -> Redirect:
    return Redirect(path, status_code=303)


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value.strip() if isinstance(value, str) else ""


def _int(form: Any, key: str) -> int | None:
    text = _text(form, key)
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


# --- 1. Find the order ----------------------------------------------------------------


def _lookup_page(
    request: Request[Any, Any, Any],
    *,
    number: str = "",
    contact: str = "",
    errors: dict[str, str] | None = None,
    status: int = 200,
    message: str | None = None,
    retry_after: int | None = None,
) -> Template:
    return Template(
        "shop/index.html",
        context={
            "number": number,
            "contact": contact,
            "errors": errors or {},
            "message": message,
            "current_order": session_order_id(request),
        },
        status_code=status,
        headers={"Retry-After": str(retry_after)} if retry_after is not None else None,
    )


@get("/", name="shop.home")
async def shop_home(request: Request[Any, Any, Any]) -> Template:
    return _lookup_page(request)


@post("/", name="shop.lookup", status_code=303)
async def lookup(request: Request[Any, Any, Any], db_session: DbSession) -> Template | Redirect:
    form = await request.form()
    number, contact = _text(form, "order_number"), _text(form, "contact")
    errors = {}
    if not number:
        errors["order_number"] = "Enter your order number, for example 1001."
    if not contact:
        errors["contact"] = "Enter the e-mail address or postal code you ordered with."
    if errors:
        return _lookup_page(request, number=number, contact=contact, errors=errors, status=400)
    if not await lookup_allowed(request, normalise_order_number(number)):
        return _lookup_page(
            request,
            number=number,
            contact=contact,
            status=429,
            message="Too many attempts. Please wait a minute, then try again.",
            retry_after=lookup_retry_after(),
        )
    order = await find_order(db_session, number, contact)
    if order is None:
        return _lookup_page(
            request, number=number, contact=contact, status=400, message=LOOKUP_FAILED
        )
    open_order_session(request, id_of(order))
    return _redirect("/order")


@post("/order/leave", name="shop.leave", status_code=303)
async def leave(request: Request[Any, Any, Any]) -> Redirect:
    close_order_session(request)
    return _redirect("/")


@get("/link/{token:str}", name="shop.link")
async def open_link(
    request: Request[Any, Any, Any], db_session: DbSession, token: FromPath[str]
) -> Template | Redirect:
    """An e-mailed link: a genuine, unexpired one opens the order's session."""
    try:
        claims = signer_of(request).read(token)
    except LinkError as exc:
        return Template(
            "shop/link_error.html",
            context={"expired": exc.expired},
            status_code=410 if exc.expired else 400,
        )
    order = await db_session.get(Order, claims.order_id)
    if order is None:
        return Template("shop/link_error.html", context={"expired": False}, status_code=400)
    open_order_session(request, id_of(order))
    return _redirect(f"/r/{claims.rma}" if claims.rma else "/order")


# --- 2. Choose items ----------------------------------------------------------------


def _require_order(request: Request[Any, Any, Any]) -> int | None:
    return session_order_id(request)


async def _items_page(
    request: Request[Any, Any, Any],
    db_session: Any,
    order_id: int,
    *,
    values: dict[int, dict[str, Any]] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Template | Redirect:
    ctx = await load_order_context(db_session, order_id)
    if ctx is None:
        close_order_session(request)
        return _redirect("/")
    outlooks: list[LineOutlook] = line_outlooks(ctx)
    returns = (
        (
            await db_session.exec(
                select(Return.rma, Return.status, Return.created_at)
                .where(Return.order_id == order_id)
                .order_by(col(Return.created_at).desc())
            )
        ).all()
        if ctx.returns_count
        else []
    )
    if values is None:
        values = {}
        draft = get_draft(request, order_id)
        for item in (draft or {}).get("items", []):
            values[int(item["line"])] = {
                "qty": item["qty"],
                "reason": item["reason"],
                "comment": item.get("comment", ""),
                "photo": item.get("photo"),
            }
    reasons = ctx.policy.compiled.policy.reasons if ctx.policy else ()
    return Template(
        "shop/order.html",
        context={
            "order": ctx.order,
            "outlooks": outlooks,
            "any_returnable": any(o.can_return for o in outlooks),
            "reasons": reasons,
            "reason_labels": {r.code: r.label for r in reasons},
            "policy_version_id": ctx.policy.id if ctx.policy else "",
            "values": values,
            "errors": errors or {},
            "message": message,
            "returns": returns,
            "fmt_date": nice_date,
            "steps": STEPS,
            "step": 0,
            "max_photo_mb": MAX_PHOTO_BYTES // 1048576,
        },
        status_code=status,
    )


@get("/order", name="shop.order")
async def choose_items(
    request: Request[Any, Any, Any], db_session: DbSession
) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    return await _items_page(request, db_session, order_id)


async def _read_upload(upload: UploadFile) -> bytes:
    data = await upload.read(MAX_PHOTO_BYTES + 1)
    await upload.close()
    return data


@post(
    "/order/items",
    name="shop.items",
    status_code=303,
    request_max_body_size=6 * (MAX_PHOTO_BYTES + 65536),
)
async def submit_items(
    request: Request[Any, Any, Any], db_session: DbSession
) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    form = await request.form()
    errors: dict[str, str] = {}
    values: dict[int, dict[str, Any]] = {}
    items: list[ItemRequest] = []
    uploads: dict[int, bytes] = {}
    for key in form:
        if not key.startswith("qty-"):
            continue
        try:
            line_id = int(key.removeprefix("qty-"))
        except ValueError:
            errors["form"] = "Some of what was sent could not be read. Please try again."
            continue
        raw_qty = _text(form, key) or "0"
        qty = int(raw_qty) if raw_qty.lstrip("-").isdigit() else None
        value: dict[str, Any] = {
            "qty": qty if qty is not None else 0,
            "reason": _text(form, f"reason-{line_id}"),
            "comment": _text(form, f"comment-{line_id}"),
            "photo": _int(form, f"photo_id-{line_id}"),
        }
        values[line_id] = value
        if qty is None or qty < 0:
            errors[f"line:{line_id}"] = "Choose how many to return from the list."
            continue
        if qty == 0:
            continue
        upload = form.get(f"photo-{line_id}")
        if isinstance(upload, UploadFile) and upload.filename:
            # Checked now, stored only once the whole form is valid (nothing is kept for a
            # post that is refused).
            data = await _read_upload(upload)
            try:
                check_photo(data)
            except PhotoError as exc:
                errors[f"line:{line_id}"] = str(exc)
                continue
            uploads[line_id] = data
            value["photo"] = None
        items.append(ItemRequest(line_id, qty, value["reason"], value["comment"], value["photo"]))
    policy_version_id = _int(form, "policy_version")
    if not errors:
        try:
            assessment = await start_return(
                db_session,
                order_id,
                items,
                policy_version_id=policy_version_id,
                pending_photos=set(uploads),
            )
            if uploads:
                stored: dict[int, int] = {}
                for line_id, data in uploads.items():
                    media = await store_photo(
                        db_session, settings_of(request).media_dir, order_id, data
                    )
                    stored[line_id] = id_of(media)
                    values[line_id]["photo"] = stored[line_id]
                items = [
                    replace(i, photo_media_id=stored.get(i.order_line_id, i.photo_media_id))
                    for i in items
                ]
        except ReturnError as exc:
            status = 409 if exc.kind == "stale" else 400
            return await _items_page(
                request,
                db_session,
                order_id,
                values=values,
                errors=exc.problems,
                message=exc.message,
                status=status,
            )
        draft = get_draft(request, order_id) or {}
        save_draft(
            request,
            {
                "order_id": order_id,
                "policy_version_id": assessment.policy.id,
                "items": [
                    {
                        "line": i.order_line_id,
                        "qty": i.quantity,
                        "reason": i.reason,
                        "comment": i.comment,
                        "photo": i.photo_media_id,
                    }
                    for i in items
                ],
                "choices": {
                    k: v
                    for k, v in (draft.get("choices") or {}).items()
                    if int(k) in {i.order_line_id for i in items}
                },
            },
        )
        return _redirect("/order/options")
    return await _items_page(
        request,
        db_session,
        order_id,
        values=values,
        errors=errors,
        message="Some items need your attention.",
        status=400,
    )


# --- 3. Choose a resolution per item ----------------------------------------------


def _item_view(
    assessment: Assessment, options: dict[int, list[Any]], choices: dict[int, Choice]
) -> list[dict[str, Any]]:
    compiled = assessment.policy.compiled
    reason_labels = {r.code: r.label for r in compiled.policy.reasons}
    views = []
    for index, assessed in enumerate(assessment.items):
        line = assessed.line
        line_id = id_of(line)
        choice = choices.get(line_id)
        offered = list(assessed.decision.resolutions)
        line_options = options.get(line_id, [])
        views.append(
            {
                "index": index,
                "assessed": assessed,
                "line": line,
                "decision": assessed.decision,
                "reason_label": reason_labels.get(assessed.item.reason, assessed.item.reason),
                "offered": offered,
                "options": line_options,
                "exchange_possible": bool(line_options),
                "bonus": assessed.credit_bonus(compiled),
                "choice": choice.resolution if choice else "",
                "variant_id": choice.variant_id if choice else None,
            }
        )
    return views


async def _options_page(
    request: Request[Any, Any, Any],
    db_session: Any,
    order_id: int,
    draft: dict[str, Any],
    *,
    choices: dict[int, Choice] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status: int = 200,
) -> Template | Redirect:
    try:
        assessment = await start_return(db_session, order_id, draft_items(draft))
    except ReturnError as exc:
        return await _items_page(
            request, db_session, order_id, errors=exc.problems, message=exc.message, status=409
        )
    if assessment.policy.id != draft.get("policy_version_id"):
        draft["policy_version_id"] = assessment.policy.id
        save_draft(request, draft)
        message = message or (
            "Our return policy was updated while you were choosing. The options below "
            "follow the new policy."
        )
    options = await exchange_options(
        db_session, [(a.line, a.item.quantity) for a in assessment.items]
    )
    compiled = assessment.policy.compiled
    return Template(
        "shop/options.html",
        context={
            "order": assessment.ctx.order,
            "items": _item_view(
                assessment, options, choices if choices is not None else draft_choices(draft)
            ),
            "labels": RESOLUTION_LABELS,
            "label_fee": compiled.label_fee if assessment.decision.totals.label_fee else 0,
            "policy_version_id": assessment.policy.id,
            "currency": assessment.ctx.order.currency,
            "errors": errors or {},
            "message": message,
            "steps": STEPS,
            "step": 1,
            "fmt_date": nice_date,
        },
        status_code=status,
    )


@get("/order/options", name="shop.options")
async def choose_options(
    request: Request[Any, Any, Any], db_session: DbSession
) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    draft = get_draft(request, order_id)
    if not draft or not draft.get("items"):
        return _redirect("/order")
    return await _options_page(request, db_session, order_id, draft)


@get("/order/exchange/{line_id:int}", name="shop.exchange_picker")
async def exchange_picker(
    request: Request[Any, Any, Any], db_session: DbSession, line_id: FromPath[int]
) -> Template | Redirect:
    """The exchange picker for one item: a partial for HTMX, the options page otherwise."""
    if not getattr(request, "htmx", False):
        return _redirect("/order/options")
    variant = _int(request.query_params, f"variant-{line_id}")
    order_id = _require_order(request)
    draft = get_draft(request, order_id) if order_id is not None else None
    item = next((i for i in (draft or {}).get("items", []) if int(i["line"]) == line_id), None)
    if order_id is None or draft is None or item is None:
        raise NotFoundException(NOT_FOUND)
    ctx = await load_order_context(db_session, order_id)
    line = ctx.line(line_id) if ctx else None
    if ctx is None or line is None:
        raise NotFoundException(NOT_FOUND)
    options = (await exchange_options(db_session, [(line, int(item["qty"]))])).get(line_id, [])
    chosen = next((o for o in options if o.variant.id == variant), None)
    index = next(i for i, x in enumerate(draft["items"]) if int(x["line"]) == line_id)
    context = {
        "view": {
            "index": index,
            "line": line,
            "options": options,
            "variant_id": variant,
            "exchange_possible": bool(options),
        },
        "chosen": chosen,
        "sold_out": variant is not None and chosen is None,
        "currency": ctx.order.currency,
    }
    return Template("_partials/shop/exchange_summary.html", context=context)


def _parse_choices(form: Any, draft: dict[str, Any]) -> dict[int, Choice]:
    choices = {}
    for item in draft.get("items", []):
        line_id = int(item["line"])
        resolution = _text(form, f"resolution-{line_id}")
        variant = _int(form, f"variant-{line_id}")
        if not resolution and variant is not None:
            resolution = "exchange"  # picking a new size is choosing the exchange
        choices[line_id] = Choice(resolution, variant if resolution == "exchange" else None)
    return choices


@post("/order/options", name="shop.options.submit", status_code=303)
async def submit_options(
    request: Request[Any, Any, Any], db_session: DbSession
) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    draft = get_draft(request, order_id)
    if not draft or not draft.get("items"):
        return _redirect("/order")
    form = await request.form()
    choices = _parse_choices(form, draft)
    policy_version_id = _int(form, "policy_version")
    try:
        assessment = await start_return(
            db_session, order_id, draft_items(draft), policy_version_id=policy_version_id
        )
        options = await exchange_options(
            db_session, [(a.line, a.item.quantity) for a in assessment.items]
        )
        price(assessment, choices, options)
    except ReturnError as exc:
        status = 409 if exc.kind in ("stale", "out_of_stock") else 400
        return await _options_page(
            request,
            db_session,
            order_id,
            draft,
            choices=choices,
            errors=exc.problems,
            message=exc.message,
            status=status,
        )
    draft["choices"] = {
        str(k): {"resolution": c.resolution, "variant": c.variant_id} for k, c in choices.items()
    }
    draft["policy_version_id"] = assessment.policy.id
    save_draft(request, draft)
    return _redirect("/order/review")


# --- 4. Review and confirm ----------------------------------------------------------


async def _review_page(
    request: Request[Any, Any, Any],
    db_session: Any,
    order_id: int,
    draft: dict[str, Any],
    *,
    message: str | None = None,
    status: int = 200,
) -> Template | Redirect:
    try:
        assessment = await start_return(db_session, order_id, draft_items(draft))
        options = await exchange_options(
            db_session, [(a.line, a.item.quantity) for a in assessment.items]
        )
        quote: Quote = price(assessment, draft_choices(draft), options)
    except ReturnError as exc:
        if any(k.startswith("choice:") for k in exc.problems):
            return await _options_page(
                request,
                db_session,
                order_id,
                draft,
                errors=exc.problems,
                message=exc.message,
                status=409,
            )
        return await _items_page(
            request, db_session, order_id, errors=exc.problems, message=exc.message, status=409
        )
    changed = draft.get("policy_version_id") != assessment.policy.id
    if changed or not draft.get("submission_key"):
        if changed and message is None:
            message = (
                "Our return policy was updated. The amounts below follow the new "
                "policy; please check them before you confirm."
            )
        draft["policy_version_id"] = assessment.policy.id
        draft["submission_key"] = secrets.token_urlsafe(24)
        save_draft(request, draft)
    policy = assessment.policy.compiled.policy
    warehouse = policy.warehouses.get(quote.destination)
    reason_labels = {r.code: r.label for r in policy.reasons}
    return Template(
        "shop/review.html",
        context={
            "order": assessment.ctx.order,
            "quote": quote,
            "labels": RESOLUTION_LABELS,
            "reason_labels": reason_labels,
            "currency": assessment.ctx.order.currency,
            "warehouse": warehouse,
            "warehouse_lines": address_lines(warehouse.address) if warehouse else [],
            "timelines": policy.timelines,
            "credit_issue": policy.store_credit.issue,
            "submission_key": draft["submission_key"],
            "policy_version_id": assessment.policy.id,
            "message": message,
            "steps": STEPS,
            "step": 2,
        },
        status_code=status,
    )


@get("/order/review", name="shop.review")
async def review(request: Request[Any, Any, Any], db_session: DbSession) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    draft = get_draft(request, order_id)
    if not draft or not draft.get("items"):
        return _redirect("/order")
    if not draft.get("choices"):
        return _redirect("/order/options")
    return await _review_page(request, db_session, order_id, draft)


@post("/order/confirm", name="shop.confirm", status_code=303)
async def confirm(request: Request[Any, Any, Any], db_session: DbSession) -> Template | Redirect:
    order_id = _require_order(request)
    if order_id is None:
        return _redirect("/")
    form = await request.form()
    key = _text(form, "submission_key")
    draft = get_draft(request, order_id)
    if not draft or draft.get("submission_key") != key:
        # Already confirmed (a second click or a resent form): show what was created.
        done = (
            (
                await db_session.exec(
                    select(Return.rma).where(
                        Return.submission_key == key, Return.order_id == order_id
                    )
                )
            ).first()
            if key
            else None
        )
        if done:
            return _redirect(f"/r/{done}")
        return _redirect("/order/review" if draft else "/order")

    async def step_back(session: AsyncSession, exc: DomainError) -> Template | Redirect:
        """Back to the step the problem belongs to, with the message."""
        if exc.kind == "out_of_stock" or any(k.startswith("choice:") for k in exc.problems):
            return await _options_page(
                request,
                session,
                order_id,
                draft,
                errors=exc.problems,
                message=exc.message,
                status=409,
            )
        if exc.kind == "stale":
            return await _review_page(
                request, session, order_id, draft, message=exc.message, status=409
            )
        return await _items_page(
            request, session, order_id, errors=exc.problems, message=exc.message, status=409
        )

    on_domain_error(request, step_back)
    result = await confirm_return(
        db_session,
        order_id=order_id,
        items=draft_items(draft),
        choices=draft_choices(draft),
        submission_key=key,
        signer=signer_of(request),
        policy_version_id=_int(form, "policy_version"),
    )
    save_draft(request, None)

    return _redirect(f"/r/{result.ret.rma}?created=1")


# --- 5. Status, documents, cancel, photos -----------------------------------------


async def _return_for(request: Request[Any, Any, Any], db_session: Any, rma: str) -> Return:
    canonical = normalise_rma(rma)
    ret = (
        (await db_session.exec(select(Return).where(Return.rma == canonical))).first()
        if canonical
        else None
    )
    return await ensure_can_see(request, ret)


@get("/r/{rma:str}", name="shop.status")
async def status_page(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> Template:
    ret = await _return_for(request, db_session, rma)
    context = await status_context(db_session, ret)
    context["can_cancel"] = await can_cancel(db_session, ret)
    context["just_created"] = request.query_params.get("created") == "1"
    return Template("shop/status.html", context=context)


@get("/r/{rma:str}/documents", name="shop.documents")
async def documents(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> Template | Redirect:
    """The label and slip block: polled by HTMX until ready; a full page otherwise."""
    ret = await _return_for(request, db_session, rma)
    if not getattr(request, "htmx", False):
        return _redirect(f"/r/{ret.rma}")
    context = await status_context(db_session, ret)
    context["oob"] = True  # the timeline rides along, swapped in by id
    return Template("_partials/shop/documents.html", context=context)


def _document(request: Request[Any, Any, Any], stored: str | None) -> Path | None:
    return stored_document(settings_of(request).data_dir, stored)


def _pdf(path: Path, filename: str) -> File:
    return File(
        path=path,
        filename=filename,
        media_type="application/pdf",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


@get("/r/{rma:str}/label.pdf", name="shop.label")
async def label_pdf(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> File:
    ret = await _return_for(request, db_session, rma)
    path = _document(request, ret.label_path) if ret.label_state == LabelState.READY else None
    if path is None:
        raise NotFoundException("The return label is not ready yet.")
    return _pdf(path, f"{ret.rma}-label.pdf")


@get("/r/{rma:str}/slip.pdf", name="shop.slip")
async def slip_pdf(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> File:
    ret = await _return_for(request, db_session, rma)
    path = _document(request, ret.slip_path)
    if path is None:
        raise NotFoundException("The packing slip is not ready yet.")
    return _pdf(path, f"{ret.rma}-slip.pdf")


@get("/r/{rma:str}/cancel", name="shop.cancel.confirm")
async def cancel_page(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> Template:
    ret = await _return_for(request, db_session, rma)
    return Template(
        "shop/cancel.html",
        context={"ret": ret, "can_cancel": await can_cancel(db_session, ret), "error": None},
    )


@post("/r/{rma:str}/cancel", name="shop.cancel", status_code=303)
async def cancel(
    request: Request[Any, Any, Any], db_session: DbSession, rma: FromPath[str]
) -> Template | Redirect:
    ret = await _return_for(request, db_session, rma)
    form = await request.form()
    staff = await load_staff_user(request)
    actor = "shopper" if session_order_id(request) == ret.order_id or staff is None else staff.email

    async def too_late(session: AsyncSession, exc: DomainError) -> Template:
        await session.refresh(ret)  # as stored: the rollback expired it
        context = {"ret": ret, "can_cancel": False, "error": exc.message}
        return Template("shop/cancel.html", context=context, status_code=409)

    on_domain_error(request, too_late)
    await cancel_return(
        db_session,
        id_of(ret),
        actor,
        signer_of(request),
        reason=_text(form, "reason")[:500],
    )
    return _redirect(f"/r/{ret.rma}")


@get("/photos/{media_id:int}", name="shop.photo")
async def photo(
    request: Request[Any, Any, Any], db_session: DbSession, media_id: FromPath[int]
) -> Response[Any]:
    """A shopper's photo, for that order's session and staff only; 404 to anyone else."""
    media = await db_session.get(Media, media_id)
    if media is None or not await can_see_order(request, media.order_id):
        raise NotFoundException(NOT_FOUND)
    path = photo_file(settings_of(request).media_dir, media)
    if path is None:
        raise NotFoundException(NOT_FOUND)
    return File(
        path=path,
        media_type=media.content_type,
        content_disposition_type="inline",
        filename=f"photo-{media.id}{path.suffix}",
        headers={
            "Cache-Control": "private, no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        },
    )
