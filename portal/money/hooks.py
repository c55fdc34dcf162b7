"""The settled-refund hook: what happens to a return once one of its refunds is decided.

Money pays and declines refunds; what that means for the return (complete it, tell the
shopper) is the returns package's business. Money calls ``refund_settled`` in the
transaction that decided the refund, and whoever assembles the portal (the web app, the
worker, the in-process runner: ``portal.composition``) registers the hook, so ``money``
never imports ``returns``.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from portal.models.money import Refund

logger = logging.getLogger("portal.money")


class RefundSettledHook(Protocol):
    async def __call__(
        self, session: AsyncSession, refund: Refund, *, actor: str, shopper_message: str
    ) -> None:
        """``refund`` was just paid (``succeeded``) or declined (``rejected``); do not commit."""
        ...


_hooks: dict[str, RefundSettledHook] = {}


def on_refund_settled(name: str, hook: RefundSettledHook) -> None:
    """Register the hook ``name`` (registering the same name again replaces it)."""
    _hooks[name] = hook


async def refund_settled(
    session: AsyncSession, refund: Refund, *, actor: str, shopper_message: str = ""
) -> None:
    """Tell every registered hook that ``refund`` was decided."""
    if not _hooks:
        logger.warning("no settled-refund hook registered", extra={"fields": {"refund": refund.id}})
    for hook in list(_hooks.values()):
        await hook(session, refund, actor=actor, shopper_message=shopper_message)
