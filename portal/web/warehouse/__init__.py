"""The warehouse area (``/warehouse``): the scan station, grading, queues and undo.

Controllers here parse forms, check roles and render; every rule lives in
``portal.returns.receiving``. Each page works as a plain form post; with HTMX the return
panel is swapped in place (``_partials/warehouse/panel.html``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Router, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError, Invalid
from portal.models.base import id_of
from portal.models.staff import StaffUser
from portal.returns import receiving
from portal.returns.context import active_policy_ref
from portal.returns.links import LinkSigner
from portal.returns.photos import MAX_PHOTO_BYTES
from portal.returns.receiving import Grade, Station
from portal.web.auth import provide_staff_user, requires_role
from portal.web.deps import DbSession, provide_session
from portal.web.error_views import on_domain_error

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]
Staff = NamedDependency[StaffUser]
PANEL = "_partials/warehouse/panel.html"


def _signer(request: Request[Any, Any, Any]) -> LinkSigner:
    return LinkSigner(request.app.state.settings.ensure_secret_key())


def _station(user: StaffUser, source: Any) -> Station:
    """Warehouse and station come with every form and link, so a tablet keeps its place."""
    return Station(
        user_id=id_of(user),
        actor=f"user:{user.email}",
        warehouse=str(source.get("warehouse", "") or "")[:64].strip(),
        station=str(source.get("station", "") or "")[:64].strip(),
    )


def _return_id(source: Any) -> int:
    """The optional ``return_id`` a grading form carries (0: none); anything else is refused."""
    raw = str(source.get("return_id", "") or "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
        raise Invalid("The return id must be a whole number.", {"return_id": "not a number"})
    return int(raw)


def _where(station: Station) -> str:
    return urlencode({"warehouse": station.warehouse, "station": station.station})


async def _warehouses(db_session: Any) -> list[str]:
    ref = await active_policy_ref(db_session)
    return list(ref.policy.warehouses) if ref else []


async def _station_context(
    db_session: Any, user: StaffUser, station: Station, *, full: bool = True, **extra: Any
) -> dict[str, Any]:
    """``full`` pages show the station bar (warehouses from the policy); fragments do not."""
    return {
        "user": user,
        "station": station,
        "where": _where(station),
        "warehouses": await _warehouses(db_session) if full else [],
        "is_admin": "admin" in user.roles,
        **extra,
    }


async def _panel_context(
    db_session: Any,
    user: StaffUser,
    station: Station,
    return_id: int,
    *,
    full: bool = True,
    receipt: Any = None,
    order: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    view = await receiving.return_view(
        db_session, return_id, receipt=receipt, order=order, receiver=user
    )
    if view is None:
        raise NotFoundException("That return does not exist.")
    return await _station_context(
        db_session,
        user,
        station,
        full=full,
        view=view,
        conditions=receiving.CONDITION_LABELS,
        dispositions=receiving.DISPOSITION_LABELS,
        **extra,
    )


def _panel_on_error(
    request: HTMXRequest,
    user: StaffUser,
    station: Station,
    return_id: int,
    *,
    status: int | None = None,
    extra: Callable[[DomainError], dict[str, Any]] = lambda _exc: {},
) -> None:
    """A refused action shows the return's panel again, with the message (HTMX: in place,
    200 so the swap happens; a page: the error's status unless ``status`` says otherwise)."""

    async def view(session: AsyncSession, exc: DomainError) -> Template:
        context = await _panel_context(
            session, user, station, return_id, error=exc.message, **extra(exc)
        )
        return Template(
            PANEL if request.htmx else "warehouse/return.html",
            context=context,
            status_code=200 if request.htmx else status or exc.status_code,
        )

    on_domain_error(request, view)


@get("/", name="warehouse.home")
async def station_page(
    request: Request[Any, Any, Any], staff_user: Staff, db_session: DbSession
) -> Template:
    station = _station(staff_user, request.query_params)
    if not station.warehouse:
        names = await _warehouses(db_session)
        station = Station(
            station.user_id, station.actor, names[0] if names else "", station.station
        )
    context = await _station_context(db_session, staff_user, station)
    return Template("warehouse/station.html", context=context)


@post("/scan", name="warehouse.scan", status_code=200)
async def scan(
    request: HTMXRequest, data: FormData, staff_user: Staff, db_session: DbSession
) -> Template:
    station = _station(staff_user, data)
    code = data.get("code", "")

    async def scan_again(session: AsyncSession, exc: DomainError) -> Template:
        context = await _station_context(session, staff_user, station, error=exc.message)
        return Template(
            "_partials/warehouse/scan_result.html" if request.htmx else "warehouse/station.html",
            context=context,
            status_code=200 if request.htmx else exc.status_code,
        )

    on_domain_error(request, scan_again)
    result = await receiving.scan_parcel(db_session, code, station, _signer(request))
    if result.ret is not None:
        context = await _panel_context(
            db_session,
            staff_user,
            station,
            id_of(result.ret),
            full=not request.htmx,
            receipt=result.receipt,
            order=result.order,
            result=result,
        )
    else:
        context = await _station_context(
            db_session, staff_user, station, full=not request.htmx, result=result
        )
    name = "_partials/warehouse/scan_result.html" if request.htmx else "warehouse/station.html"
    return Template(name, context=context)


@get("/returns/{return_id:int}", name="warehouse.return")
async def return_page(
    request: HTMXRequest, return_id: FromPath[int], staff_user: Staff, db_session: DbSession
) -> Template:
    station = _station(staff_user, request.query_params)
    context = await _panel_context(
        db_session, staff_user, station, return_id, flash=request.query_params.get("done")
    )
    return Template(PANEL if request.htmx else "warehouse/return.html", context=context)


@post("/returns/{return_id:int}/receive", name="warehouse.receive", status_code=200)
async def receive(
    request: HTMXRequest,
    return_id: FromPath[int],
    data: FormData,
    staff_user: Staff,
    db_session: DbSession,
) -> Template:
    station = _station(staff_user, data)
    result = await receiving.receive(db_session, return_id, station, _signer(request))
    context = await _panel_context(db_session, staff_user, station, return_id, result=result)
    return Template(PANEL if request.htmx else "warehouse/return.html", context=context)


@post("/lines/{line_id:int}/grade", name="warehouse.grade", status_code=303)
async def grade(
    request: HTMXRequest,
    line_id: FromPath[int],
    data: FormData,
    staff_user: Staff,
    db_session: DbSession,
) -> Template | Redirect:
    station = _station(staff_user, data)
    return_id = _return_id(data)
    if return_id:
        _panel_on_error(
            request,
            staff_user,
            station,
            return_id,
            extra=lambda exc: {"line_errors": {line_id: exc.problems}, "posted": {line_id: data}},
        )
    line = await receiving.grade_line(
        db_session,
        line_id,
        Grade(
            received_quantity=data.get("received_quantity"),
            condition=data.get("condition"),
            accepted=data.get("accepted"),
            note=data.get("note", ""),
            disposition=data.get("disposition"),
        ),
        station,
    )
    if request.htmx:
        context = await _panel_context(
            db_session, staff_user, station, line.return_id, flash="Item graded"
        )
        return Template(PANEL, context=context, status_code=200)
    return Redirect(
        f"/warehouse/returns/{line.return_id}?{_where(station)}&done=Item+graded#panel",
        status_code=303,
    )


@post(
    "/lines/{line_id:int}/photos",
    name="warehouse.photo",
    status_code=303,
    request_max_body_size=MAX_PHOTO_BYTES + 65536,
)
async def add_photo(
    request: HTMXRequest, line_id: FromPath[int], staff_user: Staff, db_session: DbSession
) -> Template | Redirect:
    form = await request.form()
    station = _station(staff_user, form)
    return_id = _return_id(form)
    upload = form.get("photo")
    data = b""
    if isinstance(upload, UploadFile):
        data = await upload.read(MAX_PHOTO_BYTES + 1)
        await upload.close()
    if return_id:
        _panel_on_error(
            request,
            staff_user,
            station,
            return_id,
            extra=lambda exc: {"line_errors": {line_id: exc.problems}},
        )
    await receiving.add_grade_photo(
        db_session, line_id, data, request.app.state.settings.media_dir, station
    )
    return Redirect(
        f"/warehouse/returns/{return_id}?{_where(station)}&done=Photo+added#line-{line_id}",
        status_code=303,
    )


@post("/returns/{return_id:int}/finish", name="warehouse.finish", status_code=200)
async def finish(
    request: HTMXRequest,
    return_id: FromPath[int],
    data: FormData,
    staff_user: Staff,
    db_session: DbSession,
) -> Template:
    station = _station(staff_user, data)
    _panel_on_error(request, staff_user, station, return_id)
    outcome = await receiving.finish_inspection(db_session, return_id, station, _signer(request))
    context = await _panel_context(db_session, staff_user, station, return_id, outcome=outcome)
    return Template(PANEL if request.htmx else "warehouse/return.html", context=context)


@post(
    "/returns/{return_id:int}/undo",
    name="warehouse.undo",
    status_code=303,
    guards=[requires_role("admin")],
)
async def undo(
    request: HTMXRequest,
    return_id: FromPath[int],
    data: FormData,
    staff_user: Staff,
    db_session: DbSession,
) -> Template | Redirect:
    station = _station(staff_user, data)
    _panel_on_error(
        request, staff_user, station, return_id, extra=lambda exc: {"undo_error": exc.problems}
    )
    await receiving.undo_receipt(db_session, return_id, data.get("reason", ""), station)
    return Redirect(
        f"/warehouse/returns/{return_id}?{_where(station)}&done=Receipt+undone", status_code=303
    )


@get("/queues", name="warehouse.queues")
async def queues_page(request: HTMXRequest, staff_user: Staff, db_session: DbSession) -> Template:
    station = _station(staff_user, request.query_params)
    show_all = request.query_params.get("all") == "1"
    queues = await receiving.queues(db_session, "" if show_all else station.warehouse)
    counts = await receiving.daily_counts(db_session)
    context = await _station_context(
        db_session,
        staff_user,
        station,
        queues=queues,
        counts=counts,
        show_all=show_all,
        flash=request.query_params.get("done"),
    )
    return Template("warehouse/queues.html", context=context)


@post("/unknown/{parcel_id:int}", name="warehouse.unknown", status_code=303)
async def unknown_note(
    request: HTMXRequest,
    parcel_id: FromPath[int],
    data: FormData,
    staff_user: Staff,
    db_session: DbSession,
) -> Template | Redirect:
    station = _station(staff_user, data)
    resolved = data.get("resolved") in {"1", "on", "yes"}

    async def queues_again(session: AsyncSession, exc: DomainError) -> Template:
        context = await _station_context(
            session,
            staff_user,
            station,
            queues=await receiving.queues(session, station.warehouse),
            counts=await receiving.daily_counts(session),
            error=exc.message,
            error_id=parcel_id,
        )
        return Template("warehouse/queues.html", context=context, status_code=exc.status_code)

    on_domain_error(request, queues_again)
    parcel = await receiving.note_unknown_parcel(
        db_session, parcel_id, station, notes=data.get("notes", ""), resolved=resolved
    )
    if request.htmx:
        return Template(
            "_partials/warehouse/unknown_saved.html",
            context={"parcel": parcel, "station": station, "where": _where(station)},
            status_code=200,
        )
    word = "closed" if parcel.resolved else "noted"
    return Redirect(
        f"/warehouse/queues?{_where(station)}&done=Unknown+parcel+{parcel_id}+{word}",
        status_code=303,
    )


warehouse_router = Router(
    path="/warehouse",
    route_handlers=[
        station_page,
        scan,
        return_page,
        receive,
        grade,
        add_photo,
        finish,
        undo,
        queues_page,
        unknown_note,
    ],
    guards=[requires_role("warehouse")],
    dependencies={
        "staff_user": Provide(provide_staff_user),
        "db_session": Provide(provide_session),
    },
    include_in_schema=False,
)
