"""The admin area (``/admin``): background jobs and system health."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath
from litestar.plugins.htmx import HTMXRequest
from litestar.response import Redirect, Template

from portal.jobs.outbox import discard_message, outbox_overview, retry_message
from portal.models.staff import StaffUser
from portal.returns.shipping import failed_labels, retry_label
from portal.web.auth import provide_staff_user, requires_role
from portal.web.deps import DbSession, provide_session

FormData = Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)]


@get("/", name="admin.home")
async def admin_home(staff_user: NamedDependency[StaffUser], db_session: DbSession) -> Template:
    overview = await outbox_overview(db_session, limit=0)
    return Template("admin/index.html", context={"user": staff_user, "overview": overview})


@get("/jobs", name="admin.jobs")
async def jobs_page(request: HTMXRequest, db_session: DbSession) -> Template:
    overview = await outbox_overview(db_session)
    overview["failed_labels"] = await failed_labels(db_session)
    name = "_partials/admin/jobs_table.html" if request.htmx else "admin/jobs.html"
    return Template(name, context={"overview": overview, "flash": request.query_params.get("done")})


@post("/jobs/{message_id:int}/retry", name="admin.jobs.retry", status_code=303)
async def retry_job(
    message_id: FromPath[int], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Redirect:
    try:
        await retry_message(db_session, message_id, actor=f"user:{staff_user.email}")
    except LookupError as exc:
        raise NotFoundException(str(exc)) from None
    return Redirect(f"/admin/jobs?done=Job+{message_id}+will+run+again", status_code=303)


@post("/jobs/{message_id:int}/discard", name="admin.jobs.discard", status_code=303)
async def discard_job(
    message_id: FromPath[int],
    data: FormData,
    staff_user: NamedDependency[StaffUser],
    db_session: DbSession,
) -> Redirect | Template:
    try:
        await discard_message(
            db_session, message_id, actor=f"user:{staff_user.email}", reason=data.get("reason", "")
        )
    except LookupError as exc:
        raise NotFoundException(str(exc)) from None
    except ValueError as exc:
        overview = await outbox_overview(db_session)
        return Template(
            "admin/jobs.html",
            status_code=400,
            context={"overview": overview, "error": str(exc), "error_id": message_id},
        )
    return Redirect(f"/admin/jobs?done=Job+{message_id}+discarded", status_code=303)


@post("/labels/{return_id:int}/retry", name="admin.labels.retry", status_code=303)
async def retry_failed_label(
    return_id: FromPath[int], staff_user: NamedDependency[StaffUser], db_session: DbSession
) -> Redirect:
    ret = await retry_label(db_session, return_id, actor=f"user:{staff_user.email}")
    return Redirect(f"/admin/jobs?done=Label+for+{ret.rma}+will+be+bought+again", status_code=303)


admin_router = Router(
    path="/admin",
    route_handlers=[admin_home, jobs_page, retry_job, discard_job, retry_failed_label],
    guards=[requires_role("admin")],
    dependencies={
        "staff_user": Provide(provide_staff_user),
        "db_session": Provide(provide_session),
    },
    include_in_schema=False,
)
