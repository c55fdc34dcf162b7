"""The e-mail job: render one message with the store's current wording and send it once."""

from __future__ import annotations

from typing import Any

from portal.jobs.names import Job
from portal.jobs.registry import Jobs
from portal.notify.overrides import render_for_sending


async def send_email(
    ctx: Any,
    *,
    message_id: int,
    template: str,
    to: str,
    context: dict[str, Any],
    return_id: int | None = None,
) -> None:
    """Render and send one e-mail; the outbox row's id keys it, so it goes out once.

    The merchant's wording (``/merchant/notifications``) and branding are read now, so an
    edit applies to every e-mail sent after it."""
    async with ctx.db.session() as session:
        effective = await ctx.store_settings(session)
        branding = effective.branding.absolute(ctx.settings.base_url).as_dict()
        email = await render_for_sending(
            session,
            template,
            to,
            {**context, "store": branding, "base_url": ctx.settings.base_url},
            return_id=return_id,
        )
    await ctx.mailer.send(email, key=f"outbox:{message_id}")


JOBS: Jobs = {Job.SEND_EMAIL: send_email}
