"""Store settings (``/merchant/settings``): branding, carriers, parcel sizes, warehouses.

Controllers only parse the forms, call ``portal.merchant.store_settings`` and render. Each
section is its own plain form (the page works without JS); a bad form re-renders with its
errors next to the fields and nothing saved, a good one redirects back (POST-redirect-GET).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import DomainError
from portal.merchant.store_settings import (
    FALLBACK_KEY,
    MAX_LOGO_BYTES,
    LogoUpload,
    ParcelRow,
    ParcelSize,
    WarehouseForm,
    effective_from_row,
    load_effective,
    reset_section,
    save_branding,
    save_carriers,
    save_parcels,
    save_warehouse,
    warehouse_forms,
)
from portal.models.staff import StaffUser
from portal.policy.versions import active_version, compiled
from portal.web.deps import DbSession
from portal.web.error_views import on_domain_error

BLANK_PARCEL_ROWS = 3
DONE = {
    "branding": "Branding saved: every page and the next e-mails use it.",
    "carriers": "Carrier preferences saved: the next label uses them.",
    "parcels": "Parcel sizes saved: the next label uses them.",
    "warehouses": "Warehouse saved: a new policy version was published.",
    "reset-branding": "Branding reset to the operator's defaults.",
    "reset-carriers": "Carrier preferences reset to the operator's defaults.",
    "reset-parcels": "Parcel sizes reset to the shipped defaults.",
}


def _number(value: float) -> str:
    return f"{value:g}"


def _shown_parcel(kind: str, dims: ParcelSize) -> ParcelRow:
    length, width, height, weight = (_number(v) for v in dims)
    return ParcelRow(kind, length, width, height, weight)


def _parcel_rows(effective: Any) -> list[ParcelRow]:
    rows = [_shown_parcel(kind, dims) for kind, dims in sorted(effective.parcels.items())]
    return rows + [ParcelRow() for _ in range(BLANK_PARCEL_ROWS)]


async def _page(
    request: Request[Any, Any, Any],
    db_session: Any,
    user: StaffUser,
    status: int = 200,
    **extra: Any,
) -> Template:
    settings = request.app.state.settings
    effective = await load_effective(db_session, settings)
    version = await active_version(db_session)
    warehouses = (
        warehouse_forms(compiled(version.yaml_text, f"v{version.version}").policy)
        if version
        else []
    )
    context: dict[str, Any] = {
        "user": user,
        "effective": effective,
        "defaults": effective_from_row(None, settings),
        "branding_form": {
            "store_name": effective.branding.name if effective.overridden["store_name"] else "",
            "brand_color": effective.branding.brand_color
            if effective.overridden["brand_color"]
            else "",
            "accent_color": effective.branding.accent_color
            if effective.overridden["accent_color"]
            else "",
            "support_email": effective.branding.support_email
            if effective.overridden["support_email"]
            else "",
        },
        "carriers_form": {
            "carriers": ", ".join(effective.carrier_preferences),
            "services": ", ".join(effective.service_preferences),
        },
        "parcel_rows": _parcel_rows(effective),
        "fallback": _shown_parcel(FALLBACK_KEY, effective.fallback_parcel),
        "warehouses": warehouses,
        "new_warehouse": WarehouseForm(is_new=True),
        "policy_version": version,
        "max_logo_mb": MAX_LOGO_BYTES // 1048576,
        "errors": {},
        "section": None,
        "warehouse_target": None,
        "edited_warehouse": None,
        "message": None,
    }
    context.update(extra)
    return Template("merchant/settings.html", context=context, status_code=status)


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def _page_on_error(
    request: Request[Any, Any, Any],
    user: StaffUser,
    *,
    fields: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    """Refused settings show the page again with each field's message (``fields`` renames
    the domain's field names to the form's) and what was typed (``extra``)."""
    names = fields or {}

    async def view(session: AsyncSession, exc: DomainError) -> Template:
        errors = {names.get(k, k): v for k, v in exc.problems.items()} or {"form": exc.message}
        return await _page(request, session, user, exc.status_code, errors=errors, **extra)

    on_domain_error(request, view)


def _saved(request: Request[Any, Any, Any], done: str, anchor: str) -> Redirect:
    request.app.state.store_settings_cache.invalidate()  # this process sees it at once
    return Redirect(f"/merchant/settings?done={done}#{anchor}", status_code=303)


@get("/settings", name="merchant.settings")
async def settings_page(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template:
    done = DONE.get(request.query_params.get("done", ""))
    return await _page(request, db_session, staff_user, message=done)


@post(
    "/settings/branding",
    name="merchant.settings.branding",
    status_code=303,
    request_max_body_size=MAX_LOGO_BYTES * 4,
)
async def save_branding_form(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template | Redirect:
    form = await request.form()
    upload = form.get("logo")
    logo = None
    if isinstance(upload, UploadFile) and upload.filename:
        logo = LogoUpload(await upload.read(MAX_LOGO_BYTES + 1), upload.filename)
    values = {
        k: _text(form, k) for k in ("store_name", "brand_color", "accent_color", "support_email")
    }
    _page_on_error(request, staff_user, section="branding", branding_form=values)
    await save_branding(
        db_session,
        request.app.state.settings.media_dir,
        staff_user.email,
        logo=logo,
        remove_logo=bool(form.get("remove_logo")),
        **values,
    )
    return _saved(request, "branding", "branding")


@post("/settings/carriers", name="merchant.settings.carriers", status_code=303)
async def save_carriers_form(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template | Redirect:
    form = await request.form()
    values = {"carriers": _text(form, "carriers"), "services": _text(form, "services")}
    _page_on_error(
        request,
        staff_user,
        fields={"carrier_preferences": "carriers", "service_preferences": "services"},
        section="carriers",
        carriers_form=values,
    )
    await save_carriers(db_session, staff_user.email, **values)
    return _saved(request, "carriers", "carriers")


def _parcel_row(form: Any, prefix: str) -> ParcelRow:
    return ParcelRow(
        product_type=_text(form, f"{prefix}-product_type"),
        length=_text(form, f"{prefix}-length"),
        width=_text(form, f"{prefix}-width"),
        height=_text(form, f"{prefix}-height"),
        weight=_text(form, f"{prefix}-weight"),
        remove=bool(form.get(f"{prefix}-remove")),
    )


@post("/settings/parcels", name="merchant.settings.parcels", status_code=303)
async def save_parcels_form(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template | Redirect:
    form = await request.form()
    rows: list[ParcelRow] = []
    index = 0
    while f"parcel-{index}-product_type" in form and index < 200:
        rows.append(_parcel_row(form, f"parcel-{index}"))
        index += 1
    fallback = _parcel_row(form, "fallback")
    fallback.product_type = FALLBACK_KEY
    _page_on_error(
        request,
        staff_user,
        section="parcels",
        parcel_rows=rows,  # as typed, so each error stays by its row
        fallback=fallback,
    )
    await save_parcels(db_session, staff_user.email, rows, fallback)
    return _saved(request, "parcels", "parcels")


@post("/settings/warehouses", name="merchant.settings.warehouses", status_code=303)
async def save_warehouse_form(
    request: Request[Any, Any, Any], db_session: DbSession, staff_user: NamedDependency[StaffUser]
) -> Template | Redirect:
    form = await request.form()
    is_new = _text(form, "new") == "1"
    warehouse = WarehouseForm(
        id=_text(form, "id").strip(),
        name=_text(form, "name"),
        line1=_text(form, "line1"),
        line2=_text(form, "line2"),
        city=_text(form, "city"),
        region=_text(form, "region"),
        postal_code=_text(form, "postal_code"),
        country=_text(form, "country"),
        phone=_text(form, "phone"),
        is_new=is_new,
    )
    base = _text(form, "base_version")
    shown: dict[str, Any] = {"new_warehouse": warehouse} if is_new else {}
    _page_on_error(
        request,
        staff_user,
        section="warehouses",
        warehouse_target="new" if is_new else warehouse.id,
        edited_warehouse=warehouse,
        **shown,
    )
    await save_warehouse(db_session, staff_user, warehouse, int(base) if base.isdigit() else None)
    return _saved(request, "warehouses", "warehouses")


@post("/settings/{section:str}/reset", name="merchant.settings.reset", status_code=303)
async def reset_settings_section(
    request: Request[Any, Any, Any],
    section: FromPath[str],
    db_session: DbSession,
    staff_user: NamedDependency[StaffUser],
) -> Template | Redirect:
    _page_on_error(request, staff_user)
    await reset_section(db_session, staff_user.email, section)
    return _saved(request, f"reset-{section}", section)


settings_handlers = [
    settings_page,
    save_branding_form,
    save_carriers_form,
    save_parcels_form,
    save_warehouse_form,
    reset_settings_section,
]
