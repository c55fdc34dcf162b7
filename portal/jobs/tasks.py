"""The jobs behind the outbox. Each checks the state it changes, so running twice is safe."""

from __future__ import annotations

from typing import Any

from portal.jobs.registry import job
from portal.notify.emails import render_email


@job("send_email")
async def send_email(
    ctx: Any,
    *,
    message_id: int,
    template: str,
    to: str,
    context: dict[str, Any],
    return_id: int | None = None,
) -> None:
    """Render and send one e-mail; the outbox row's id keys it, so it goes out once."""
    email = render_email(
        template,
        to,
        {**context, "store": ctx.store, "base_url": ctx.settings.base_url},
        return_id=return_id,
    )
    await ctx.mailer.send(email, key=f"outbox:{message_id}")
