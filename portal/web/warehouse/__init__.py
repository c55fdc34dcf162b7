"""The warehouse area (`/warehouse`)."""

from __future__ import annotations

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from portal.models.staff import StaffUser
from portal.web.auth import provide_staff_user, requires_role


@get("/", name="warehouse.home")
async def warehouse_home(staff_user: NamedDependency[StaffUser]) -> Template:
    return Template("warehouse/index.html", context={"user": staff_user})


warehouse_router = Router(
    path="/warehouse",
    route_handlers=[warehouse_home],
    guards=[requires_role("warehouse")],
    dependencies={"staff_user": Provide(provide_staff_user)},
    include_in_schema=False,
)
