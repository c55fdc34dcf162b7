"""Analytics on a seeded store: every figure is worked out here from the prices and the
rows we made, not by the report's code; the date filter, CSV and bad input too."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlmodel import select

from portal.models.base import utcnow
from portal.models.money import Refund
from portal.models.returns import Return
from portal.returns.create import Choice, ItemRequest
from portal.returns.lifecycle import cancel_return
from tests.merchant.helpers import login
from tests.returns.builders import EMAIL, seed_shop
from tests.returns.helpers import create


async def _seed(db, signer) -> dict:
    now = utcnow()
    a = await seed_shop(db, number="1001")
    b = await seed_shop(db, number="1002")
    c = await seed_shop(db, number="1003")
    tees = await create(  # 2 tees at $25, store credit: revenue kept 50.00
        db,
        signer,
        a.order_id,
        [ItemRequest(a.lines["L1"], 2, "too_small")],
        {a.lines["L1"]: Choice("store_credit")},
    )
    socks = await create(  # socks $12 refunded
        db,
        signer,
        a.order_id,
        [ItemRequest(a.lines["L4"], 1, "changed_mind")],
        {a.lines["L4"]: Choice("refund")},
    )
    scarf = await create(  # scarf $69 less $13.80 discount, store credit: kept 55.20
        db,
        signer,
        b.order_id,
        [ItemRequest(b.lines["L2"], 1, "too_large")],
        {b.lines["L2"]: Choice("store_credit")},
    )
    gone = await create(  # cancelled: never counts
        db,
        signer,
        c.order_id,
        [ItemRequest(c.lines["L1"], 1, "too_small")],
        {c.lines["L1"]: Choice("refund")},
    )
    async with db.session() as session:
        await cancel_return(session, gone.ret.id, "shopper", signer)
    async with db.session() as session:
        old = await session.get(Return, scarf.ret.id)
        old.created_at = now - timedelta(days=8)  # another week, outside a 3-day range
        sock_return = await session.get(Return, socks.ret.id)
        sock_return.label_cost = 700
        session.add_all([old, sock_return])
        refund = (
            await session.exec(select(Refund).where(Refund.return_id == socks.ret.id))
        ).first() or Refund(
            return_id=socks.ret.id, amount=605, currency="USD", idempotency_key="t-socks"
        )
        refund.status = "succeeded"
        refund.completed_at = sock_return.created_at + timedelta(hours=30)
        session.add(refund)
        await session.commit()
        counted = [tees.ret.id, socks.ret.id, scarf.ret.id]
        label_fees = 0
        for rid in counted:
            label_fees += (await session.get(Return, rid)).label_fee
        refunded = refund.amount
    return {"label_fees": label_fees, "refunded": refunded, "now": now}


def _figure(html: str, name: str) -> str:
    found = re.search(rf'data-figure="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1).strip()


def _table(html: str, key: str) -> dict[str, str]:
    body = html.split(f'id="table-{key}"', 1)[1].split("</table>", 1)[0]
    return dict(re.findall(r'<th scope="row">([^<]*)</th><td>([^<]*)</td>', body))


async def test_figures_for_a_seeded_store(client, db, signer) -> None:
    seeded = await _seed(db, signer)
    today = seeded["now"].date()
    await login(client, db)
    page = await client.get(
        "/merchant/analytics",
        params={"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()},
    )
    assert page.status_code == 200
    html = page.text
    assert _figure(html, "return_rate") == "66.7%"  # orders 1001 and 1002 of three
    assert _figure(html, "returns") == "3"
    assert _figure(html, "revenue_kept") == "$105.20"  # 2 x 25.00 + (69.00 - 13.80)
    assert _figure(html, "label_spend") == "$7.00"
    assert _figure(html, "fees_collected") == f"${seeded['label_fees'] / 100:.2f}"
    assert _figure(html, "refunded") == f"${seeded['refunded'] / 100:.2f}"
    assert _figure(html, "median_refund_hours") == "30.0 h"
    assert _table(html, "reason") == {"Too small": "2", "Changed mind": "1", "Too large": "1"}
    assert _table(html, "product") == {"Classic Tee": "2", "Silk Scarf": "1", "Sport Socks": "1"}
    assert _table(html, "variant")["Classic Tee – M"] == "2"
    assert _table(html, "resolution") == {"store credit": "3", "refund": "1"}
    assert _table(html, "serial") == {EMAIL: "3"}
    assert sum(int(v) for v in _table(html, "week").values()) == 3
    assert "<svg" in html and 'role="img"' in html

    recent = await client.get(
        "/merchant/analytics",
        params={"from": (today - timedelta(days=3)).isoformat(), "to": today.isoformat()},
    )
    assert _figure(recent.text, "returns") == "2"  # the scarf return is 8 days old
    assert "Silk Scarf" not in _table(recent.text, "product")
    assert _figure(recent.text, "return_rate") == "0.0%"  # every order was placed 8 days ago

    export = await client.get(
        "/merchant/analytics.csv",
        params={"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()},
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(export.text))}
    assert rows[("summary", "revenue_kept")] == "10520"
    assert rows[("summary", "return_rate")] == "0.6667"
    assert rows[("reason", "too_small")] == "2"
    assert rows[("summary", "label_spend")] == "700"


async def test_bad_ranges_are_refused_plainly(client, db) -> None:
    await login(client, db)
    backwards = await client.get(
        "/merchant/analytics", params={"from": "2026-02-02", "to": "2026-02-01"}
    )
    assert backwards.status_code == 400 and "start date is after the end date" in backwards.text
    garbage = await client.get("/merchant/analytics", params={"from": "last week"})
    assert garbage.status_code == 400 and "Dates must look like 2026-11-23." in garbage.text
    huge = await client.get(
        "/merchant/analytics.csv", params={"from": "2020-01-01", "to": "2026-01-01"}
    )
    assert huge.status_code == 400 and "at most 731 days" in huge.text
    empty = await client.get(
        "/merchant/analytics", params={"from": "2020-01-01", "to": "2020-01-31"}
    )
    assert empty.status_code == 200 and "No returns in this range." in empty.text


async def test_warehouse_staff_cannot_see_analytics(client, db) -> None:
    await login(client, db, "wes@shop.example", "warehouse")
    assert (await client.get("/merchant/analytics")).status_code == 403
    assert (await client.get("/merchant/analytics.csv")).status_code == 403
