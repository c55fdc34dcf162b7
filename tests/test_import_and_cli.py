"""`portal orders import` (CSV and JSON), users and tokens from the command line."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import func, select

from portal.cli import main
from portal.db import Database
from portal.models import Order, OrderLine, StaffUser
from portal.settings import async_database_url
from tests.factories import order_payload

HEADER = (
    "order_number,email,currency,placed_at,delivered_at,order_total,order_tags,"
    "customer_email,customer_tags,ship_name,ship_postal_code,ship_country,"
    "line_id,sku,title,line_tags,quantity,unit_price,discount"
)
GOOD_CSV = f"""{HEADER}
1001,ana@example.com,USD,2026-11-01T10:00:00Z,2026-11-04T10:00:00Z,7000,web,ana@example.com,vip,Ana,97205,US,L1,TEE-M,Tee,cotton;sale,2,2500,500
1001,ana@example.com,USD,2026-11-01T10:00:00Z,2026-11-04T10:00:00Z,7000,web,ana@example.com,vip,Ana,97205,US,L2,SOCK,Socks,,1,2500,0
1002,bo@example.com,EUR,2026-11-02T10:00:00+01:00,,1500,,,,Bo,10115,DE,L1,HAT,Hat,,1,1500,0
"""


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("PORTAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("PORTAL_SECRET_KEY", settings.secret_key)
    runner = CliRunner()
    return lambda *args, **kw: runner.invoke(main, list(args), catch_exceptions=False, **kw)


def counts(url: str) -> tuple[int, int]:
    async def run() -> tuple[int, int]:
        db = Database(async_database_url(url))
        try:
            async with db.session() as s:
                orders = (await s.exec(select(func.count()).select_from(Order))).one()
                lines = (await s.exec(select(func.count()).select_from(OrderLine))).one()
                return orders, lines
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_csv_import_groups_rows_into_orders(cli, settings, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text(GOOD_CSV)
    result = cli("orders", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "Imported 2 orders (2 new, 0 updated)" in result.output
    assert counts(settings.database_url) == (2, 3)
    again = cli("orders", "import", str(path))
    assert "(0 new, 2 updated)" in again.output
    assert counts(settings.database_url) == (2, 3)


def test_bad_csv_rows_are_reported_by_row_and_column_and_nothing_is_written(
    cli, settings, tmp_path: Path
) -> None:
    rows = GOOD_CSV.strip().splitlines()
    rows[2] = rows[2].replace(",1,2500,0", ",0,2500,0")  # row 3: quantity 0
    rows[3] = rows[3].replace(",EUR,", ",EURO,").replace(",1500,", ",-3,", 1)  # row 4
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    result = cli("orders", "import", str(path))
    assert result.exit_code != 0
    assert "row 3, quantity: Input should be greater than or equal to 1" in result.output
    assert "row 4, currency: unknown currency 'EURO'" in result.output
    assert "row 4, order_total: Input should be greater than or equal to 0" in result.output
    assert "nothing was imported" in result.output
    assert counts(settings.database_url) == (0, 0)


def test_unknown_and_missing_columns_are_named(cli, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("order_number,email,colour\n1,a@example.com,red\n")
    result = cli("orders", "import", str(path))
    assert "row 1, colour: unknown column" in result.output
    assert "row 1, currency: missing column" in result.output


def test_json_import_is_all_or_nothing(cli, settings, tmp_path: Path) -> None:
    good, bad = order_payload("2001"), order_payload("2002")
    bad["lines"][0]["unit_price"] = "twenty"
    path = tmp_path / "orders.json"
    path.write_text(json.dumps([good, bad]))
    result = cli("orders", "import", str(path))
    assert result.exit_code != 0
    assert "row 2, lines[0].unit_price" in result.output
    assert counts(settings.database_url) == (0, 0)
    path.write_text(json.dumps({"orders": [good]}))
    assert cli("orders", "import", str(path)).exit_code == 0
    assert counts(settings.database_url) == (1, 2)


def test_users_create_list_disable(cli, settings) -> None:
    created = cli(
        "users",
        "create",
        "Boss@Shop.example",
        "--role",
        "admin",
        "--role",
        "finance",
        "--password",
        "long enough password",
    )
    assert created.exit_code == 0, created.output
    assert "Created boss@shop.example (admin, finance)" in created.output
    short = cli("users", "create", "x@shop.example", "--role", "admin", "--password", "short")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    listed = cli("users", "list")
    assert "boss@shop.example" in listed.output and "active" in listed.output
    assert cli("users", "disable", "boss@shop.example").exit_code == 0
    assert "disabled" in cli("users", "list").output

    async def stored() -> StaffUser:
        db = Database(async_database_url(settings.database_url))
        try:
            async with db.session() as s:
                return (await s.exec(select(StaffUser))).one()
        finally:
            await db.dispose()

    user = asyncio.run(stored())
    assert user.password_hash.startswith("$argon2id$")
    assert not user.active


def test_token_is_printed_once(cli, settings) -> None:
    result = cli("tokens", "create", "shopify")
    token = result.stdout.strip().splitlines()[0]
    assert token.startswith("rp_") and len(token) > 30


def test_cli_names_the_bad_variable(monkeypatch) -> None:
    monkeypatch.setenv("PORTAL_WEB_WORKERS", "many")
    result = CliRunner().invoke(main, ["users", "list"])
    assert result.exit_code != 0
    assert "PORTAL_WEB_WORKERS" in result.output


def test_demo_refuses_production_and_seeds_no_public_passwords(cli, settings, monkeypatch) -> None:
    """Issue 18, finding 11: the demo's published staff passwords never reach production."""
    import portal.cli

    served: list[object] = []
    monkeypatch.setattr(portal.cli, "_serve", lambda *a, **kw: served.append(a))
    monkeypatch.setenv("PORTAL_ENV", "production")
    result = cli("demo")
    assert result.exit_code != 0
    assert "refuses to run with PORTAL_ENV=production" in result.output
    assert served == []

    async def staff() -> int:
        db = Database(async_database_url(settings.database_url))
        try:
            async with db.session() as s:
                return (await s.exec(select(func.count()).select_from(StaffUser))).one()
        finally:
            await db.dispose()

    assert asyncio.run(staff()) == 0
    assert counts(settings.database_url) == (0, 0)
