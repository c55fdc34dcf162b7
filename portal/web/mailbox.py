"""The local mailbox (``/merchant/mailbox``): every e-mail the portal sent, readable in the
browser. Without SMTP it is where shoppers' e-mails go in the demo."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter
from litestar.response import Template
from sqlmodel import col, func, select

from portal.models.outbox import MailMessage
from portal.web.auth import provide_staff_user, requires_role
from portal.web.deps import DbSession, provide_session

PAGE_SIZE = 50


@get("/", name="mailbox.list")
async def mailbox(
    db_session: DbSession,
    to: Annotated[str | None, QueryParameter()] = None,
    page: Annotated[int, QueryParameter(ge=1, le=100_000)] = 1,
) -> Template:
    query = select(MailMessage)
    count = select(func.count()).select_from(MailMessage)
    if to:
        query = query.where(MailMessage.to == to.strip().lower())
        count = count.where(MailMessage.to == to.strip().lower())
    messages = (
        await db_session.exec(
            query.order_by(col(MailMessage.id).desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    ).all()
    total = (await db_session.exec(count)).one()
    return Template(
        "merchant/mailbox.html",
        context={
            "messages": messages,
            "to": to or "",
            "page": page,
            "total": total,
            "pages": max(1, -(-total // PAGE_SIZE)),
        },
    )


@get("/{message_id:int}", name="mailbox.message")
async def mailbox_message(message_id: FromPath[int], db_session: DbSession) -> Template:
    message = await db_session.get(MailMessage, message_id)
    if message is None:
        raise NotFoundException("There is no such e-mail.")
    return Template("merchant/mailbox_message.html", context={"message": message})


mailbox_router = Router(
    path="/merchant/mailbox",
    route_handlers=[mailbox, mailbox_message],
    guards=[requires_role("merchant")],
    dependencies={
        "db_session": Provide(provide_session),
        "staff_user": Provide(provide_staff_user),
    },
    include_in_schema=False,
)
