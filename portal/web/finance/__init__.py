"""The finance area (`/finance`)."""

from __future__ import annotations

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from portal.models.staff import StaffUser
from portal.web.auth import provide_staff_user, requires_role


@get("/", name="finance.home")
async def finance_home(staff_user: NamedDependency[StaffUser]) -> Template:
    return Template("finance/index.html", context={"user": staff_user})


finance_router = Router(
    path="/finance",
    route_handlers=[finance_home],
    guards=[requires_role("finance")],
    dependencies={"staff_user": Provide(provide_staff_user)},
    include_in_schema=False,
)
