"""Staff users from the merchant console: invite, set roles, disable and enable.

An invitation creates the account with a random temporary password that the inviting
person sees exactly once and passes on; only its argon2id hash is stored. (A signed
set-password link would need a public route and a mail template; the temporary password
gives the same safety with no new surface, and the user can be disabled at any time.)

Guard rails: nobody changes or disables their own account here (no self lock-out), and
only an admin may grant the admin role or change an admin's account.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.accounts import AccountError, hash_password, normalise_email
from portal.audit import record
from portal.errors import Invalid
from portal.models.staff import ROLES, StaffUser

ROLE_LABELS = {
    "admin": "Admin (everything, including users and jobs)",
    "merchant": "Merchant (policy, reviews, analytics, users)",
    "warehouse": "Warehouse (receiving and grading)",
    "finance": "Finance (refund queue)",
}


class UserAdminError(Invalid):
    """A user change that cannot happen; the message says why."""


@dataclass(frozen=True)
class Invitation:
    user: StaffUser
    temporary_password: str


def _clean_roles(roles: list[str]) -> list[str]:
    chosen = [r for r in ROLES if r in set(roles)]
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise UserAdminError(f"Unknown role {', '.join(unknown)}; choose from {', '.join(ROLES)}.")
    if not chosen:
        raise UserAdminError("Choose at least one role.")
    return chosen


def _check_admin_power(actor: StaffUser, roles: list[str], target: StaffUser | None) -> None:
    if "admin" in actor.roles:
        return
    if "admin" in roles:
        raise UserAdminError("Only an admin can give someone the admin role.")
    if target is not None and "admin" in target.roles:
        raise UserAdminError("Only an admin can change an admin's account.")


async def list_users(session: AsyncSession) -> list[StaffUser]:
    return list((await session.exec(select(StaffUser).order_by(StaffUser.email))).all())


async def get_user(session: AsyncSession, user_id: int) -> StaffUser:
    user = await session.get(StaffUser, user_id)
    if user is None:
        raise UserAdminError("That user does not exist.")

    return user


async def invite(
    session: AsyncSession, actor: StaffUser, email: str, name: str, roles: list[str]
) -> Invitation:
    """Create an active account with a temporary password shown once to ``actor``."""
    try:
        email = normalise_email(email)
    except AccountError:
        raise UserAdminError(f"“{email.strip()}” is not a valid e-mail address.") from None
    roles = _clean_roles(roles)
    _check_admin_power(actor, roles, None)
    name = name.strip()[:200]
    if (await session.exec(select(StaffUser).where(StaffUser.email == email))).first():
        raise UserAdminError(f"There is already a user with e-mail {email}.")
    password = secrets.token_urlsafe(12)
    user = StaffUser(email=email, name=name, password_hash=hash_password(password), roles=roles)
    session.add(user)
    await session.flush()
    await record(session, actor.email, "staff_user", user.id, "invited", data={"roles": roles})
    await session.commit()
    return Invitation(user, password)


async def set_roles(
    session: AsyncSession, actor: StaffUser, user_id: int, roles: list[str]
) -> StaffUser:
    user = await get_user(session, user_id)
    if user.id == actor.id:
        raise UserAdminError("You can't change your own roles; ask another merchant or admin.")
    roles = _clean_roles(roles)
    _check_admin_power(actor, roles, user)
    if roles == [r for r in ROLES if r in user.roles]:
        return user
    before = list(user.roles)
    user.roles = roles
    session.add(user)
    await record(
        session,
        actor.email,
        "staff_user",
        user.id,
        "roles_changed",
        from_state=",".join(before)[:40],
        to_state=",".join(roles)[:40],
        data={"from": before, "to": roles},
    )
    await session.commit()
    return user


async def set_enabled(
    session: AsyncSession, actor: StaffUser, user_id: int, active: bool, reason: str = ""
) -> StaffUser:
    """Disable (signs them out on their next request) or enable a user."""
    user = await get_user(session, user_id)
    if user.id == actor.id:
        raise UserAdminError("You can't disable or enable your own account.")
    _check_admin_power(actor, [], user)
    if user.active == active:
        return user
    user.active = active
    session.add(user)
    await record(
        session,
        actor.email,
        "staff_user",
        user.id,
        "enabled" if active else "disabled",
        from_state="disabled" if active else "active",
        to_state="active" if active else "disabled",
        reason=reason.strip()[:2000],
    )
    await session.commit()
    return user


async def reset_password(session: AsyncSession, actor: StaffUser, user_id: int) -> Invitation:
    """A new temporary password (shown once), e.g. when an invitation got lost."""
    user = await get_user(session, user_id)
    if user.id == actor.id:
        raise UserAdminError("Change your own password from your account, not here.")
    _check_admin_power(actor, [], user)
    password = secrets.token_urlsafe(12)
    user.password_hash = hash_password(password)
    session.add(user)
    await record(session, actor.email, "staff_user", user.id, "password_reset")
    await session.commit()
    return Invitation(user, password)
