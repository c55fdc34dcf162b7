"""The outbox: queued with the change, run once in effect, retried with backoff, then dead."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlmodel import select

import tests.support.jobs_for_tests  # noqa: F401  (declares the test jobs' names)
from portal.jobs.dispatcher import dispatch_due, sweep
from portal.jobs.outbox import backoff, enqueue, run_message
from portal.models import AuditEvent, MailMessage, OutboxMessage
from portal.models.base import utcnow


@pytest.fixture
def settings(settings):
    """The runner of these tests also runs the outbox's own test jobs."""
    settings.job_modules = "tests.support.jobs_for_tests"
    return settings


def email_payload(to: str = "shopper@example.com") -> dict:
    return {"template": "test_message", "to": to, "context": {"name": "Sam"}}


@pytest.fixture(autouse=True)
def test_email_template(monkeypatch, tmp_path):
    """A tiny e-mail template for these tests, next to the real ones."""
    from portal.notify import emails

    folder = tmp_path / "templates" / "email"
    folder.mkdir(parents=True)
    (folder / "base.html").write_text((emails.TEMPLATES_DIR / "email" / "base.html").read_text())
    (folder / "test_message.html").write_text(
        '{% extends "email/base.html" %}{% block subject %}Hello {{ name }}{% endblock %}'
        "{% block text %}Hi {{ name }}, from {{ store.name }}.{% endblock %}"
        "{% block content %}<p>Hi {{ name }}</p>{% endblock %}"
    )
    monkeypatch.setattr(emails, "TEMPLATES_DIR", tmp_path / "templates")
    emails._environment.cache_clear()
    yield
    emails._environment.cache_clear()


async def queue(db, job: str, payload: dict, key: str) -> int | None:
    async with db.session() as session:
        message = await enqueue(session, job, payload, key=key)
        await session.commit()
        return message.id if message else None


async def mails(db) -> list[MailMessage]:
    async with db.session() as session:
        return list((await session.exec(select(MailMessage))).all())


async def row(db, message_id: int) -> OutboxMessage:
    async with db.session() as session:
        return await session.get(OutboxMessage, message_id)


async def test_same_effect_queued_twice_is_one_row(db) -> None:
    first = await queue(db, "send_email", email_payload(), key="email:welcome:1")
    second = await queue(db, "send_email", email_payload(), key="email:welcome:1")
    assert first is not None and second is None
    async with db.session() as session:
        assert len((await session.exec(select(OutboxMessage))).all()) == 1


async def test_unknown_job_is_refused(db) -> None:
    async with db.session() as session:
        with pytest.raises(ValueError, match="unknown job"):
            await enqueue(session, "send_emial", {}, key="x")


async def test_nothing_is_queued_when_the_change_rolls_back(db) -> None:
    async with db.session() as session:
        await enqueue(session, "send_email", email_payload(), key="email:rolled-back")
        await session.rollback()
    async with db.session() as session:
        assert (await session.exec(select(OutboxMessage))).first() is None


async def test_a_job_run_twice_has_its_effect_once(db, jobs) -> None:
    message_id = await queue(db, "send_email", email_payload(), key="email:1")
    assert await run_message(jobs.ctx, message_id) == "done", (await row(db, message_id)).last_error
    assert await run_message(jobs.ctx, message_id) == "done"
    sent = await mails(db)
    assert [(m.to, m.subject) for m in sent] == [("shopper@example.com", "Hello Sam")]
    assert "Hi Sam, from Demo Store." in sent[0].text_body  # the job adds the branding
    assert sent[0].html_body.startswith("<!doctype html>") and "Hi Sam" in sent[0].html_body
    assert (await row(db, message_id)).attempts == 1


async def test_in_process_runner_drains_the_outbox(db, jobs) -> None:
    ids = [
        await queue(db, "send_email", email_payload(f"s{i}@example.com"), key=f"e:{i}")
        for i in range(5)
    ]
    await jobs.drain()
    assert sorted(m.to for m in await mails(db)) == [f"s{i}@example.com" for i in range(5)]
    assert {(await row(db, i)).status for i in ids} == {"done"}


async def test_a_failing_job_backs_off_then_dies_with_its_error(db, jobs, client) -> None:
    message_id = await queue(db, "test_always_fails", {}, key="fail:1")
    now = utcnow()
    jobs.ctx.now = lambda: now
    assert await run_message(jobs.ctx, message_id) == "pending"
    first = await row(db, message_id)
    assert first.attempts == 1 and "the carrier said no" in first.last_error
    assert timedelta(seconds=2) <= first.next_attempt_at - now <= timedelta(seconds=5)
    # Not due yet: the dispatcher leaves it alone.
    handed: list[int] = []

    async def submit(message):
        handed.append(message.id)

    assert await dispatch_due(db, submit, now) == 0
    for _ in range(first.max_attempts - 1):
        await run_message(jobs.ctx, message_id)
    dead = await row(db, message_id)
    assert dead.status == "dead" and dead.attempts == dead.max_attempts


async def test_a_row_whose_job_this_process_cannot_run_dies_at_once(db, jobs) -> None:
    """A worker without the module of an extra job (PORTAL_JOB_MODULES) must not retry it."""
    message_id = await queue(db, "test_slow_email", {"started_flag": "-", "to": "x"}, key="x:1")
    jobs.ctx.jobs = {k: v for k, v in jobs.ctx.jobs.items() if k != "test_slow_email"}
    assert await run_message(jobs.ctx, message_id) == "dead"
    assert (
        "no function is registered for job 'test_slow_email'"
        in (await row(db, message_id)).last_error
    )


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    rng = random.Random(1)
    for attempts, ceiling in [(1, 5), (2, 10), (3, 20), (6, 160), (20, 3600)]:
        delay = backoff(attempts, rng).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


async def test_dispatch_failure_leaves_rows_pending(db) -> None:
    message_id = await queue(db, "send_email", email_payload(), key="e:down")

    async def redis_is_down(message):
        raise ConnectionError("Redis is away")

    with pytest.raises(ConnectionError):
        await dispatch_due(db, redis_is_down, utcnow())
    assert (await row(db, message_id)).status == "pending"


async def test_sweep_requeues_rows_whose_job_was_lost(db) -> None:
    message_id = await queue(db, "send_email", email_payload(), key="e:lost")

    async def lost(message):
        return None

    long_ago = utcnow() - timedelta(hours=2)
    assert await dispatch_due(db, lost, long_ago + timedelta(seconds=1)) == 0  # not due then
    assert await dispatch_due(db, lost, utcnow()) == 1
    async with db.session() as session:
        message = await session.get(OutboxMessage, message_id)
        message.sent_at = long_ago
        session.add(message)
        await session.commit()
    assert await sweep(db, utcnow(), timedelta(minutes=30)) == 1
    assert (await row(db, message_id)).status == "pending"


async def test_admin_sees_dead_jobs_and_can_retry_or_discard(db, jobs, client) -> None:
    from tests.conftest import csrf_token, submit_form
    from tests.factories import PASSWORD, make_user

    await make_user(db, "ops@shop.example", "admin")
    await submit_form(
        client, "/login", "/login", {"email": "ops@shop.example", "password": PASSWORD, "next": ""}
    )
    failing = await queue(db, "test_always_fails", {}, key="fail:page")
    for _ in range(8):
        await run_message(jobs.ctx, failing)
    page = await client.get("/admin/jobs")
    assert page.status_code == 200
    assert f'id="job-{failing}"' in page.text and "the carrier said no (test)" in page.text
    assert 'data-state="dead">1<' in page.text

    retried = await client.post(
        f"/admin/jobs/{failing}/retry",
        data={"_csrf_token": csrf_token(client)},
        follow_redirects=False,
    )
    assert retried.status_code == 303
    assert (await row(db, failing)).status == "pending"

    no_reason = await client.post(
        f"/admin/jobs/{failing}/discard", data={"_csrf_token": csrf_token(client), "reason": " "}
    )
    assert no_reason.status_code == 400 and "Say why" in no_reason.text
    discarded = await client.post(
        f"/admin/jobs/{failing}/discard",
        data={"_csrf_token": csrf_token(client), "reason": "label bought by hand"},
    )
    assert discarded.status_code == 200
    final = await row(db, failing)
    assert final.status == "dead" and "label bought by hand" in final.last_error
    async with db.session() as session:
        actions = [
            e.action
            for e in (
                await session.exec(
                    select(AuditEvent).where(AuditEvent.entity_type == "outbox_message")
                )
            ).all()
        ]
    assert actions == ["retried", "discarded"]
    htmx = await client.get("/admin/jobs", headers={"HX-Request": "true"})
    assert "<html" not in htmx.text and "Background jobs" not in htmx.text


async def test_only_admins_reach_the_jobs_page(db, client) -> None:
    from tests.conftest import submit_form
    from tests.factories import PASSWORD, make_user

    await make_user(db, "m@shop.example", "merchant")
    await submit_form(
        client, "/login", "/login", {"email": "m@shop.example", "password": PASSWORD, "next": ""}
    )
    assert (await client.get("/admin/jobs")).status_code == 403
