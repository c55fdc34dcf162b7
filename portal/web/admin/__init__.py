"""The admin area (`/admin`)."""

from __future__ import annotations

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from portal.models.staff import StaffUser
from portal.web.auth import provide_staff_user, requires_role


@get("/", name="admin.home")
async def admin_home(staff_user: NamedDependency[StaffUser]) -> Template:
    return Template("admin/index.html", context={"user": staff_user})


admin_router = Router(
    path="/admin",
    route_handlers=[admin_home],
    guards=[requires_role("admin")],
    dependencies={"staff_user": Provide(provide_staff_user)},
    include_in_schema=False,
)
