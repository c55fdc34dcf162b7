"""Staff accounts (argon2id) and the store's API tokens."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from email_validator import EmailNotValidError, validate_email
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.audit import record
from portal.errors import Invalid
from portal.models.base import utcnow
from portal.models.staff import ROLES, ApiToken, StaffUser

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified when the e-mail is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "rp_"


class AccountError(Invalid):
    """A request about accounts that cannot be honoured; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def normalise_email(email: str) -> str:
    try:
        return validate_email(
            email.strip(), check_deliverability=False, globally_deliverable=False
        ).normalized.lower()
    except EmailNotValidError as exc:
        raise AccountError(f"{email!r} is not a valid e-mail address: {exc}") from None


async def create_user(
    session: AsyncSession, email: str, password: str, roles: list[str], name: str = ""
) -> StaffUser:
    email = normalise_email(email)
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise AccountError(f"roles must be some of {', '.join(ROLES)} (got {', '.join(roles)})")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if (await session.exec(select(StaffUser).where(StaffUser.email == email))).first():
        raise AccountError(f"a user with e-mail {email} already exists")
    user = StaffUser(email=email, name=name, password_hash=hash_password(password), roles=roles)
    session.add(user)
    await session.flush()
    await record(session, "system", "staff_user", user.id, "created", data={"roles": roles})
    await session.commit()
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> StaffUser | None:
    """The user for these credentials, or None; unknown and wrong look and time the same."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    user = (
        (await session.exec(select(StaffUser).where(StaffUser.email == email))).first()
        if email
        else None
    )
    try:
        # argon2 is deliberately slow: off the event loop, so failed logins cannot stall others.
        await asyncio.to_thread(
            _hasher.verify, user.password_hash if user else _DUMMY_HASH, password
        )
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    user.last_login_at = utcnow()
    session.add(user)
    await session.commit()
    return user


async def set_active(session: AsyncSession, email: str, active: bool, actor: str) -> StaffUser:
    user = (
        await session.exec(select(StaffUser).where(StaffUser.email == normalise_email(email)))
    ).first()
    if user is None:
        raise AccountError(f"no user with e-mail {email}")
    user.active = active
    session.add(user)
    await record(session, actor, "staff_user", user.id, "enabled" if active else "disabled")
    await session.commit()
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str


def _token_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_api_token(session: AsyncSession, name: str) -> IssuedToken:
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_sha256=_token_digest(secret), prefix=secret[:10])
    session.add(token)
    await session.flush()
    await record(session, "system", "api_token", token.id, "created", data={"name": name})
    await session.commit()
    return IssuedToken(token=token, secret=secret)


async def verify_api_token(session: AsyncSession, secret: str) -> ApiToken | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    token = (
        await session.exec(select(ApiToken).where(ApiToken.token_sha256 == _token_digest(secret)))
    ).first()
    if token is None or token.revoked_at is not None:
        return None
    return token
