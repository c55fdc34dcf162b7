"""The merchant area (`/merchant`)."""

from __future__ import annotations

from litestar import Router, get
from litestar.di import NamedDependency, Provide
from litestar.response import Template

from portal.models.staff import StaffUser
from portal.web.auth import provide_staff_user, requires_role
from portal.web.deps import provide_session
from portal.web.merchant.analytics import analytics_handlers
from portal.web.merchant.audit import audit_handlers
from portal.web.merchant.notifications import notification_handlers
from portal.web.merchant.policy import policy_handlers
from portal.web.merchant.reviews import review_handlers
from portal.web.merchant.settings import settings_handlers
from portal.web.merchant.users import user_handlers
from portal.web.merchant.webhooks import webhook_handlers


@get("/", name="merchant.home")
async def merchant_home(staff_user: NamedDependency[StaffUser]) -> Template:
    return Template("merchant/index.html", context={"user": staff_user})


merchant_router = Router(
    path="/merchant",
    route_handlers=[
        merchant_home,
        *review_handlers,
        *policy_handlers,
        *user_handlers,
        *audit_handlers,
        *analytics_handlers,
        *webhook_handlers,
        *notification_handlers,
        *settings_handlers,
    ],
    guards=[requires_role("merchant")],
    dependencies={
        "staff_user": Provide(provide_staff_user),
        "db_session": Provide(provide_session),
    },
    include_in_schema=False,
)
