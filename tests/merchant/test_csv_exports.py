"""CSV exports cannot carry spreadsheet formulas (issue 18, finding 5; OWASP's rule)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal

from portal.csvsafe import safe_cell
from portal.models.base import utcnow
from portal.models.orders import OrderLine
from portal.money.reports import ReportRow, report_csv
from portal.returns.create import Choice, ItemRequest
from tests.merchant.helpers import login
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

EVIL = '=HYPERLINK("http://evil.example","x")'
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


async def test_a_product_title_formula_comes_out_inert_in_the_analytics_csv(
    client, db, signer
) -> None:
    shop = await seed_shop(db)
    async with db.session() as session:
        line = await session.get(OrderLine, shop.lines["L1"])
        line.title = EVIL
        line.variant_title = "@SUM(A1:A9)"
        session.add(line)
        await session.commit()
    await create(
        db,
        signer,
        shop.order_id,
        [ItemRequest(shop.lines["L1"], 1, "too_small")],
        {shop.lines["L1"]: Choice("refund")},
    )
    await login(client, db)
    today = utcnow().date()
    export = await client.get(
        "/merchant/analytics.csv",
        params={"from": (today - timedelta(days=30)).isoformat(), "to": today.isoformat()},
    )
    assert export.status_code == 200
    rows = {(r["section"], r["key"]): r["value"] for r in csv.DictReader(io.StringIO(export.text))}
    assert rows[("product", "'" + EVIL)] == "1"  # shown as the text it is, not a link
    assert rows[("variant", "'" + EVIL + " – @SUM(A1:A9)")] == "1"
    assert not [c for c in cells(export.text) if c.startswith(FORMULA_START)]


def test_finance_report_csv_neutralises_text_and_keeps_numbers_numeric() -> None:
    day = date(2026, 11, 30)
    rows = [
        ReportRow(day, "refund", EVIL, "USD", 2, 1500),
        ReportRow(day, "credit", "+cmd|' /C calc'!A0", "USD", 1, -500),  # a reversal
    ]
    out = list(csv.reader(io.StringIO(report_csv(rows))))
    assert out[1] == ["2026-11-30", "refund", "'" + EVIL, "USD", "2", "1500"]
    assert out[2] == ["2026-11-30", "credit", "'+cmd|' /C calc'!A0", "USD", "1", "-500"]


def test_the_rule() -> None:
    for danger in ("=1+1", "+1", "-1+cmd", "@SUM(A1)", "\t=1", "\r=1"):
        assert safe_cell(danger) == "'" + danger
    assert safe_cell("Classic Tee") == "Classic Tee"
    assert safe_cell("a=b") == "a=b"  # only the first character matters
    assert safe_cell(-500) == -500 and safe_cell(Decimal("-1.5")) == Decimal("-1.5")
    assert safe_cell(-0.25) == -0.25
    assert safe_cell(None) == ""
    assert safe_cell(date(2026, 1, 1)) == "2026-01-01"
