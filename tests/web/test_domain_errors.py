"""A domain error becomes one HTTP answer, whatever the route: the form again (HTML), JSON
under /api/, or the plain error page; its transaction rolled back; never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Request, get
from litestar.di import Provide
from litestar.response import Template
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from portal.errors import Conflict, DomainError, Invalid, NotFound
from portal.models import AuditEvent
from portal.models.webhooks import WebhookEndpoint
from portal.web.deps import DbSession, provide_session
from portal.web.error_views import on_domain_error
from tests.conftest import submit_form
from tests.factories import PASSWORD, make_user


async def login(client: Any, db: Any, email: str, *roles: str) -> None:
    await make_user(db, email, *roles)
    response = await submit_form(
        client,
        "/login",
        "/login",
        {"email": email, "password": PASSWORD, "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303


async def count(db: Any, model: Any) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def written(db: Any) -> int:
    async with db.session() as session:
        return (await _audit_rows(session)).one()


async def test_an_invalid_form_comes_back_with_its_message_and_saves_nothing(client, db) -> None:
    await login(client, db, "mia@shop.example", "merchant")
    response = await submit_form(
        client,
        "/merchant/webhooks",
        "/merchant/webhooks",
        {"url": "ftp://orders.example/hook", "description": "ERP", "events": "return.created"},
    )
    assert response.status_code == 400
    assert "The URL must start with http:// or https://" in response.text
    assert 'value="ftp://orders.example/hook"' in response.text  # what was typed stays
    assert await count(db, WebhookEndpoint) == 0


async def test_something_missing_gets_the_not_found_page_with_the_reason(client, db) -> None:
    await login(client, db, "ada@shop.example", "admin")
    response = await submit_form(client, "/admin/jobs", "/admin/labels/999/retry", {})
    assert response.status_code == 404
    assert "That return has no failed label to retry." in response.text
    assert "<html" in response.text


# The central rollback, shown with routes that write and then refuse: whatever a domain
# function flushed before raising is gone, and the page built for the error sees that.


async def _write_then_refuse(session: AsyncSession, error: DomainError) -> None:
    session.add(AuditEvent(entity_type="test", entity_id=1, action="half-done", actor="test"))
    await session.flush()
    raise error


def _audit_rows(session: AsyncSession) -> Any:
    return session.exec(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.entity_type == "test")
    )


@get("/test/refused-form", dependencies={"db_session": Provide(provide_session)})
async def refused_form(request: Request[Any, Any, Any], db_session: DbSession) -> Template:
    async def form_again(session: AsyncSession, exc: DomainError) -> Template:
        rows = (await _audit_rows(session)).one()
        return Template(
            template_str="<p>{{ error }}</p><p>{{ problems }}</p><p>rows: {{ rows }}</p>",
            context={"error": exc.message, "problems": exc.problems["note"], "rows": rows},
            status_code=exc.status_code,
        )

    on_domain_error(request, form_again)
    await _write_then_refuse(db_session, Invalid("Check the note.", {"note": "Too long."}))
    raise AssertionError("not reached")


@get("/test/refused", dependencies={"db_session": Provide(provide_session)})
async def refused(db_session: DbSession) -> None:
    await _write_then_refuse(db_session, Conflict("It moved on meanwhile."))


@get("/api/test/refused", dependencies={"db_session": Provide(provide_session)})
async def refused_api(db_session: DbSession) -> None:
    await _write_then_refuse(db_session, Invalid("Check the note.", {"note": "Too long."}))


@get("/test/missing-form", dependencies={"db_session": Provide(provide_session)})
async def missing_form(request: Request[Any, Any, Any], db_session: DbSession) -> None:
    async def never(_session: AsyncSession, _exc: DomainError) -> Template:
        raise AssertionError("a missing thing has no form to show again")

    on_domain_error(request, never)
    raise NotFound("There is no such thing.")


@pytest.fixture
def app(app):
    for handler in (refused_form, refused, refused_api, missing_form):
        app.register(handler)
    return app


async def test_a_declared_form_is_rendered_after_the_rollback(client, db) -> None:
    response = await client.get("/test/refused-form")
    assert response.status_code == 400
    assert "Check the note." in response.text and "Too long." in response.text
    assert "rows: 0" in response.text  # the page already saw the half-done write undone
    assert await written(db) == 0


async def test_without_a_form_a_page_gets_the_error_page_with_the_status(client, db) -> None:
    response = await client.get("/test/refused")
    assert response.status_code == 409
    assert "It moved on meanwhile." in response.text and "<html" in response.text
    assert await written(db) == 0

    missing = await client.get("/test/missing-form")
    assert missing.status_code == 404 and "There is no such thing." in missing.text


async def test_the_api_gets_json_with_each_field(client, db) -> None:
    response = await client.get("/api/test/refused")
    assert response.status_code == 400
    assert response.json() == {"detail": "Check the note.", "errors": {"note": "Too long."}}
    assert await written(db) == 0
