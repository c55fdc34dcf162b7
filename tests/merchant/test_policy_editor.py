"""The policy editor: live validation, drafts, publish (never a bad one), two tabs, rollback,
history diffs, preview and backtest on a known data set."""

from __future__ import annotations

import csv
import io

from sqlmodel import select

from portal.models.audit import AuditEvent
from portal.models.policy import PolicyVersion
from portal.policy.versions import active_version
from portal.returns.create import Choice, ItemRequest
from tests.merchant.helpers import another_browser, base_version, login, post
from tests.returns.builders import DEFAULT_POLICY, seed_shop
from tests.returns.helpers import create

BAD = DEFAULT_POLICY.replace("window:\n  days: 30", "windw:\n  days: 30")
# Socks stop being returnable: a visible change for order lines L4.
NO_SOCKS = DEFAULT_POLICY.replace(
    "rules:\n",
    'rules:\n  - name: No socks\n    when: {sku_matches: ["SOCK-*"]}\n'
    '    then: {deny: "Socks can\'t come back."}\n',
    1,
)


async def _active(db) -> PolicyVersion:
    async with db.session() as session:
        return await active_version(session)


async def test_live_validation_reports_errors_at_their_lines(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    page = await client.get("/merchant/policy")
    assert page.status_code == 200
    assert 'hx-trigger="keyup changed delay:400ms"' in page.text
    assert "Northwind Apparel returns" in page.text  # the live text is in the editor
    line = BAD.splitlines().index("windw:") + 1
    response = await post(
        client, "/merchant/policy/validate", {"text": BAD}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "<html" not in response.text  # a fragment for the swap
    assert f"Line {line}, column 1" in response.text
    assert "did you mean `window`?" in response.text
    assert f'data-error-lines="{line}"' in response.text
    good = await post(
        client,
        "/merchant/policy/validate",
        {"text": DEFAULT_POLICY},
        headers={"HX-Request": "true"},
    )
    assert "The policy is valid" in good.text and "problem" not in good.text
    # without JavaScript the same button renders the full page with the errors
    full = await post(client, "/merchant/policy/validate", {"text": BAD, "base_version": "1"})
    assert "<html" in full.text and f"Line {line}, column 1" in full.text
    assert "windw:" in full.text  # the merchant's text is kept


async def test_bad_policy_is_not_published_and_says_why(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    page = await client.get("/merchant/policy")
    response = await post(
        client, "/merchant/policy/publish", {"text": BAD, "base_version": base_version(page.text)}
    )
    assert response.status_code == 400
    assert "Not published: the policy has 1 error" in response.text
    assert "did you mean `window`?" in response.text
    live = await _active(db)
    assert live.version == 1 and "windw" not in live.yaml_text


async def test_publish_makes_a_new_live_version_and_the_audit_says_who(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    page = await client.get("/merchant/policy")
    response = await post(
        client,
        "/merchant/policy/publish",
        {"text": NO_SOCKS, "base_version": base_version(page.text), "note": "no socks"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/merchant/policy/history?published=2"
    history = await client.get("/merchant/policy/history?published=2")
    assert "Version 2 is now live." in history.text
    assert "+" in history.text and "No socks" in history.text  # the default diff v1 -> v2
    live = await _active(db)
    assert live.version == 2 and live.author == "mia@shop.example" and live.note == "no socks"
    async with db.session() as session:
        events = (
            await session.exec(select(AuditEvent).where(AuditEvent.action == "published"))
        ).all()
    assert [(e.actor, e.to_state) for e in events][-1] == ("mia@shop.example", "v2")


async def test_two_tabs_publish_one_wins_the_other_is_told_to_reload(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    tab_a = await client.get("/merchant/policy")
    tab_b = await client.get("/merchant/policy")
    first = await post(
        client,
        "/merchant/policy/publish",
        {"text": NO_SOCKS, "base_version": base_version(tab_a.text)},
    )
    assert first.status_code == 303
    other = DEFAULT_POLICY.replace("days: 30", "days: 45", 1)
    second = await post(
        client,
        "/merchant/policy/publish",
        {"text": other, "base_version": base_version(tab_b.text)},
    )
    assert second.status_code == 409
    assert "Version 2 was published by mia@shop.example" in second.text
    assert "Reload" in second.text
    async with db.session() as session:
        live = (await session.exec(select(PolicyVersion).where(PolicyVersion.active))).all()
    assert [v.version for v in live] == [2]
    # the losing tab's text is kept as the user's draft, not lost
    again = await client.get("/merchant/policy")
    assert "days: 45" in again.text and "You are editing your saved draft" in again.text


async def test_drafts_are_per_user(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    await client.get("/merchant/policy")
    saved = await post(client, "/merchant/policy/draft", {"text": BAD, "base_version": "1"})
    assert saved.status_code == 303
    mine = await client.get("/merchant/policy?done=saved")
    assert "Draft saved" in mine.text and "windw:" in mine.text
    async with another_browser(client) as other:
        await login(other, db, "noah@shop.example", "admin")
        theirs = await other.get("/merchant/policy")
        assert "windw:" not in theirs.text and "You are editing your saved draft" not in theirs.text
    discarded = await post(client, "/merchant/policy/draft/discard", {})
    assert discarded.status_code == 303
    back = await client.get("/merchant/policy?done=discarded")
    assert "windw:" not in back.text and "Draft discarded" in back.text


async def test_rollback_and_diff_between_any_two_versions(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    page = await client.get("/merchant/policy")
    await post(
        client,
        "/merchant/policy/publish",
        {"text": NO_SOCKS, "base_version": base_version(page.text)},
    )
    page = await client.get("/merchant/policy/history")
    assert 'name="base_version" value="2"' in page.text  # the rollback form names the live one
    rolled = await post(client, "/merchant/policy/rollback/1", {"base_version": "2"})
    assert rolled.status_code == 303
    live = await _active(db)
    assert live.version == 1
    history = await client.get("/merchant/policy/history", params={"from": "1", "to": "2"})
    assert "v1 → v2: 3 lines added, 0 removed" in history.text
    assert 'class="diff-added"' in history.text
    assert "Roll back to v2" in history.text  # v2 is no longer live
    missing = await post(client, "/merchant/policy/rollback/9", {"base_version": "1"})
    assert missing.status_code == 400 and "There is no policy version 9." in missing.text
    same = await post(client, "/merchant/policy/rollback/1", {"base_version": "1"})
    assert same.status_code == 400 and "already live" in same.text
    async with db.session() as session:
        actions = (
            await session.exec(
                select(AuditEvent.action).where(AuditEvent.entity_type == "policy_version")
            )
        ).all()
    assert "rolled_back" in actions


async def test_preview_shows_each_lines_decision_and_rule_trace(client, db) -> None:
    shop = await seed_shop(db)
    await login(client, db)
    await client.get("/merchant/policy")
    loaded = await post(
        client,
        "/merchant/policy/preview",
        {"text": NO_SOCKS, "order_number": shop.number, "step": "load"},
        headers={"HX-Request": "true"},
    )
    assert (
        loaded.status_code == 200
        and "Sport Socks" in loaded.text
        and 'name="qty_L4"' in loaded.text
    )
    result = await post(
        client,
        "/merchant/policy/preview",
        {
            "text": NO_SOCKS,
            "order_number": shop.number,
            "step": "preview",
            "qty_L4": "1",
            "reason_L4": "changed_mind",
            "qty_L2": "1",
            "reason_L2": "too_small",
        },
    )
    assert result.status_code == 200
    body = result.text
    assert "Socks can&#39;t come back." in body or "Socks can't come back." in body
    assert "Not returnable" in body and "Returnable" in body
    assert "<li>Sale items</li>" in body and "<li>No socks</li>" in body
    # far in the future every window has closed: the deadline is named
    late = await post(
        client,
        "/merchant/policy/preview",
        {
            "text": NO_SOCKS,
            "order_number": shop.number,
            "step": "preview",
            "qty_L1": "1",
            "reason_L1": "too_small",
            "as_of": "2031-01-01",
        },
    )
    assert late.status_code == 200 and "Not returnable" in late.text
    assert "The return window for this item closed on" in late.text
    wrong_date = await post(
        client,
        "/merchant/policy/preview",
        {"text": NO_SOCKS, "order_number": shop.number, "qty_L1": "1", "as_of": "soon"},
    )
    assert wrong_date.status_code == 400 and "must look like 2026-11-23" in wrong_date.text
    bad = await post(
        client,
        "/merchant/policy/preview",
        {"text": NO_SOCKS, "order_number": "nope", "step": "preview"},
    )
    assert bad.status_code == 400 and "There is no order nope." in bad.text
    broken = await post(
        client,
        "/merchant/policy/preview",
        {"text": BAD, "order_number": shop.number, "qty_L4": "1", "reason_L4": "changed_mind"},
    )
    assert broken.status_code == 400 and "Fix the errors in the policy first" in broken.text


async def test_backtest_summarises_and_lists_changed_returns_with_csv(client, db, signer) -> None:
    shop = await seed_shop(db)
    socks = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L4"], 1, "changed_mind")],
        {shop.lines["L4"]: Choice("refund")},
    )
    tee = await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L1"], 1, "too_small")],
        {shop.lines["L1"]: Choice("refund")},
    )
    await login(client, db)
    await client.get("/merchant/policy")
    response = await post(
        client,
        "/merchant/policy/backtest",
        {"text": NO_SOCKS, "days": "30"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "1 of 2 returns would change" in response.text
    assert socks.ret.rma in response.text and tee.ret.rma not in response.text
    assert 'data-count="lines_became_ineligible">1<' in response.text
    download = await post(client, "/merchant/policy/backtest.csv", {"text": NO_SOCKS, "days": "30"})
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert [r["rma"] for r in rows] == [socks.ret.rma]
    assert rows[0]["eligible_before"] == "True" and rows[0]["eligible_after"] == "False"
    bad_days = await post(client, "/merchant/policy/backtest", {"text": NO_SOCKS, "days": "0"})
    assert bad_days.status_code == 400 and "between 1 and 3650 days" in bad_days.text


async def test_only_merchants_and_admins_open_the_editor(client, db) -> None:
    await seed_shop(db)
    anonymous = await client.get("/merchant/policy", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and "/login" in anonymous.headers["location"]
    await login(client, db, "wes@shop.example", "warehouse")
    assert (await client.get("/merchant/policy")).status_code == 403
