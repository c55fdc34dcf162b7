"""Store settings: branding on every page and e-mail, the logo, carriers, parcel sizes and
warehouses (published as a policy version), each validated and audited."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
import segno
from sqlmodel import select

from portal.carriers.sandbox import SandboxCarrier
from portal.composition import build_context
from portal.jobs.runner import InProcessRunner
from portal.merchant.store_settings import SettingsCache, replace_warehouses_block
from portal.models import AuditEvent, MailMessage, Return
from portal.models.merchant import StoreSettings
from portal.models.policy import PolicyVersion
from portal.policy.versions import active_version
from portal.returns.create import Choice, ItemRequest
from tests.conftest import csrf_token
from tests.merchant.helpers import login, post
from tests.returns.builders import seed_shop
from tests.returns.helpers import create
from tests.shipping.test_labels_and_slips import pdf_text


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    segno.make("logo").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


class RecordingCarrier(SandboxCarrier):
    """The sandbox carrier, keeping every label request it was asked for."""

    def __init__(self) -> None:
        super().__init__(pace=timedelta(minutes=5))
        self.requests: list = []

    def buy_label(self, req, shipment_id=None):  # type: ignore[no-untyped-def]
        self.requests.append(req)
        return super().buy_label(req, shipment_id)


@pytest.fixture
async def recording(settings, db):
    carrier = RecordingCarrier()
    runner = InProcessRunner(build_context(settings, db, carrier=carrier))
    yield runner, carrier
    await runner.stop()


async def new_return(db, signer, number: str = "1001", policy_text: str | None = None):
    """An approved refund return of two tees (product type Tops)."""
    shop = await seed_shop(db, number=number, policy_text=policy_text)
    tee = shop.lines["L1"]
    done = await create(
        db, signer, shop.order_id, [ItemRequest(tee, 2, "changed_mind")], {tee: Choice("refund")}
    )
    return done.ret


async def settings_row(db) -> StoreSettings | None:
    async with db.session() as session:
        return await session.get(StoreSettings, 1)


async def audit(db, action: str) -> list[AuditEvent]:
    async with db.session() as session:
        return list(
            (
                await session.exec(
                    select(AuditEvent).where(
                        AuditEvent.entity_type == "store_settings", AuditEvent.action == action
                    )
                )
            ).all()
        )


async def save_branding(client, data: dict, files: dict | None = None):
    await client.get("/merchant/settings")
    fields = {"store_name": "", "brand_color": "", "accent_color": "", "support_email": ""}
    return await client.post(
        "/merchant/settings/branding",
        data={**fields, **data, "_csrf_token": csrf_token(client)},
        files=files,
        follow_redirects=False,
    )


# --- Branding ------------------------------------------------------------------------------


async def test_branding_changes_the_shop_pages_and_the_next_email(
    client, db, jobs, signer, settings
) -> None:
    await login(client, db)
    before = await client.get("/")
    assert "Demo Store" in before.text and "--portal-brand: #1f5f8b" in before.text

    response = await save_branding(
        client,
        {
            "store_name": "Acme Outfitters",
            "brand_color": "#AA3300",
            "accent_color": "#0a0",
            "support_email": "help@acme.example",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/merchant/settings?done=branding")

    shop = await client.get("/")
    assert "Acme Outfitters" in shop.text and "Demo Store" not in shop.text
    assert "--portal-brand: #aa3300" in shop.text and "--portal-accent: #00aa00" in shop.text
    assert "help@acme.example" in shop.text
    staff = await client.get("/merchant/settings")
    assert "Acme Outfitters" in staff.text and 'value="#aa3300"' in staff.text

    ret = await new_return(db, signer)
    await jobs.drain()
    async with db.session() as session:
        mails = (
            await session.exec(select(MailMessage).where(MailMessage.return_id == ret.id))
        ).all()
    assert mails
    for mail in mails:
        assert "Acme Outfitters" in mail.html_body and "#aa3300" in mail.html_body
        assert "help@acme.example" in mail.html_body and "Demo Store" not in mail.html_body

    async with db.session() as session:
        slip_path = (await session.get(Return, ret.id)).slip_path
    assert "Acme Outfitters" in pdf_text(settings.data_dir / slip_path)  # the packing slip too

    [event] = await audit(db, "branding_saved")
    assert event.actor == "mia@shop.example"
    assert event.data["before"]["store_name"] is None
    assert event.data["after"]["store_name"] == "Acme Outfitters"
    assert event.data["after"]["brand_color"] == "#aa3300"


async def test_blank_fields_and_reset_go_back_to_the_operators_defaults(client, db) -> None:
    await login(client, db)
    await save_branding(client, {"store_name": "Acme", "brand_color": "#112233"})
    assert "Acme" in (await client.get("/")).text
    response = await post(client, "/merchant/settings/branding/reset", {})
    assert response.status_code == 303
    page = await client.get("/")
    assert "Demo Store" in page.text and "--portal-brand: #1f5f8b" in page.text
    assert (await settings_row(db)).store_name is None
    assert await audit(db, "branding_reset")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("brand_color", "#12345g", "Brand colour must be a hex colour such as #1f5f8b"),
        ("accent_color", "red", "Accent colour must be a hex colour such as #1f5f8b"),
        (
            "support_email",
            "help at acme",
            "Support e-mail must be an e-mail address such as support@yourstore.com",
        ),
        ("store_name", "x" * 121, "Store name must be at most 120 characters"),
    ],
)
async def test_bad_branding_is_refused_with_its_reason_and_changes_nothing(
    client, db, field, value, message
) -> None:
    await login(client, db)
    response = await save_branding(client, {"store_name": "Acme Outfitters", field: value})
    assert response.status_code == 400
    assert message in response.text
    assert f'value="{value}"' in response.text  # what was typed is kept to fix
    assert await settings_row(db) is None
    assert not await audit(db, "branding_saved")
    assert "Acme Outfitters" not in (await client.get("/")).text


async def test_logo_is_served_publicly_and_shown_in_the_header(client, db) -> None:
    assert (await client.get("/brand/logo")).status_code == 404  # no logo yet
    await login(client, db)
    png = png_bytes()
    response = await save_branding(
        client, {}, files={"logo": ("logo.png", png, "application/octet-stream")}
    )
    assert response.status_code == 303
    row = await settings_row(db)
    assert row.logo_media_id
    page = await client.get("/")
    assert f'src="/brand/logo?v={row.logo_media_id}"' in page.text

    client.cookies.clear()  # shoppers and e-mail clients are not logged in
    logo = await client.get(f"/brand/logo?v={row.logo_media_id}")
    assert logo.status_code == 200 and logo.content == png
    assert logo.headers["content-type"] == "image/png"
    assert "public" in logo.headers["cache-control"] and logo.headers["etag"]
    assert logo.headers["x-content-type-options"] == "nosniff"
    again = await client.get("/brand/logo", headers={"If-None-Match": logo.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("logo.png", b"<html>not an image</html>", "The logo must be a PNG or JPEG image."),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "The logo must be a PNG or JPEG image.",
        ),
        ("big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (1024 * 1024 + 10), "the limit is 1 MB"),
    ],
)
async def test_a_logo_that_is_not_a_small_png_or_jpeg_is_refused(
    client, db, name, data, message
) -> None:
    await login(client, db)
    response = await save_branding(
        client, {"store_name": "Acme"}, files={"logo": (name, data, "image/png")}
    )
    assert response.status_code == 400 and message in response.text
    assert await settings_row(db) is None
    assert (await client.get("/brand/logo")).status_code == 404


# --- Carriers and parcels --------------------------------------------------------------------


async def test_carrier_preferences_reach_the_label_job(client, db, signer, recording) -> None:
    runner, carrier = recording
    await login(client, db)
    response = await post(
        client, "/merchant/settings/carriers", {"carriers": "UPS, USPS", "services": "Priority"}
    )
    assert response.status_code == 303
    page = await client.get("/merchant/settings")
    assert 'value="UPS, USPS"' in page.text
    await new_return(db, signer)
    await runner.drain()
    [request] = carrier.requests
    assert request.preferred_carriers == ("UPS", "USPS")
    assert request.preferred_services == ("Priority",)
    [event] = await audit(db, "carriers_saved")
    assert event.data["after"] == {"carriers": ["UPS", "USPS"], "services": ["Priority"]}


async def test_bad_carrier_names_are_refused(client, db) -> None:
    await login(client, db)
    response = await post(
        client, "/merchant/settings/carriers", {"carriers": "UPS, <b>x</b>", "services": ""}
    )
    assert response.status_code == 400
    assert "is not a name we can use" in response.text
    assert await settings_row(db) is None


async def test_carrier_preferences_choose_the_rate_easypost_buys(
    client, db, settings, signer
) -> None:
    """Through the real EasyPost SDK against recorded answers: the preferred service wins."""
    from portal.carriers.easypost_carrier import EasyPostCarrier
    from tests.carriers.conftest import require_shared
    from tests.support.easypost_replay import ReplayServer, load_cassette

    require_shared()
    rates = {r["service"]: r for r in load_cassette("test_shipment_buy")[0].json()["rates"]}
    assert "Priority" in rates and "GroundAdvantage" in rates
    await login(client, db)
    await post(client, "/merchant/settings/carriers", {"carriers": "", "services": "Priority"})
    png = png_bytes()
    with ReplayServer(cassettes=["test_shipment_buy"]) as server:
        carrier = EasyPostCarrier(
            "EZTK_test_key", "secret", api_base=server.api_base, label_fetcher=lambda url: png
        )
        runner = InProcessRunner(build_context(settings, db, carrier=carrier))
        ret = await new_return(db, signer)
        await runner.drain()
        await runner.stop()
        buys = [r for r in server.requests if r.path.endswith("/buy")]
    assert buys and buys[0].json == {"rate": {"id": rates["Priority"]["id"]}}
    async with db.session() as session:
        done = await session.get(Return, ret.id)
    assert done.status == "label_issued"


async def test_parcel_sizes_change_the_parcel_sent_to_the_carrier(
    client, db, signer, recording
) -> None:
    runner, carrier = recording
    await login(client, db)
    page = await client.get("/merchant/settings")
    assert 'name="parcel-0-product_type"' in page.text and 'value="accessories"' in page.text
    response = await post(
        client,
        "/merchant/settings/parcels",
        {
            "parcel-0-product_type": "Tops",
            "parcel-0-length": "15",
            "parcel-0-width": "11",
            "parcel-0-height": "3.5",
            "parcel-0-weight": "12",
            "parcel-1-product_type": "footwear",
            "parcel-1-length": "14",
            "parcel-1-width": "10",
            "parcel-1-height": "5",
            "parcel-1-weight": "40",
            "parcel-1-remove": "1",
            "parcel-2-product_type": "",
            "parcel-2-length": "",
            "parcel-2-width": "",
            "parcel-2-height": "",
            "parcel-2-weight": "",
            "fallback-length": "10",
            "fallback-width": "8",
            "fallback-height": "4",
            "fallback-weight": "16",
        },
    )
    assert response.status_code == 303
    page = await client.get("/merchant/settings")
    assert 'value="tops"' in page.text and 'value="footwear"' not in page.text
    await new_return(db, signer)
    await runner.drain()
    [request] = carrier.requests
    parcel = request.parcel
    assert (parcel.length_in, parcel.width_in, parcel.height_in) == (15, 11, 3.5)
    assert parcel.weight_oz == 24  # two tees at 12 oz
    assert (await settings_row(db)).parcel_sizes == {
        "tops": [15.0, 11.0, 3.5, 12.0],
        "*": [10.0, 8.0, 4.0, 16.0],
    }
    assert await audit(db, "parcel_sizes_saved")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("parcel-0-length", "-3", "Row 1 (tops): length must be a number of inches above 0"),
        ("parcel-0-weight", "lots", "Row 1 (tops): weight per unit must be a number of ounces"),
        ("parcel-0-height", "500", "at most 108"),
        ("parcel-0-product_type", "", "Row 1: enter the product type"),
        ("fallback-width", "0", "Any other product: width must be a number of inches above 0"),
    ],
)
async def test_bad_parcel_sizes_are_refused_and_change_nothing(
    client, db, field, value, message
) -> None:
    await login(client, db)
    data = {
        "parcel-0-product_type": "tops",
        "parcel-0-length": "15",
        "parcel-0-width": "11",
        "parcel-0-height": "3",
        "parcel-0-weight": "12",
        "fallback-length": "10",
        "fallback-width": "8",
        "fallback-height": "4",
        "fallback-weight": "16",
        field: value,
    }
    response = await post(client, "/merchant/settings/parcels", data)
    assert response.status_code == 400 and message in response.text
    assert await settings_row(db) is None


# --- Warehouses ------------------------------------------------------------------------------

NEW_MAIN = {
    "id": "main",
    "name": "Acme returns hub",
    "line1": "77 Harbor Rd",
    "line2": "",
    "city": "Newark",
    "region": "NJ",
    "postal_code": "07105",
    "country": "us",
    "phone": "",
}


async def test_editing_a_warehouse_publishes_a_policy_and_the_next_label_ships_there(
    client, db, signer, recording
) -> None:
    runner, carrier = recording
    await seed_shop(db)
    await login(client, db)
    page = await client.get("/merchant/settings")
    assert "Northwind distribution center" in page.text and "400 Meadowlands Pkwy" in page.text
    async with db.session() as session:
        before = await active_version(session)
    response = await post(
        client,
        "/merchant/settings/warehouses",
        {**NEW_MAIN, "base_version": str(before.version)},
    )
    assert response.status_code == 303, response.text
    async with db.session() as session:
        after = await active_version(session)
    assert after.version == before.version + 1
    assert after.note.startswith("Warehouses edited in settings") and after.author == (
        "mia@shop.example"
    )
    assert '"77 Harbor Rd"' in after.yaml_text and "400 Meadowlands Pkwy" not in after.yaml_text
    # only the warehouses block changed: comments and the rest of the file are kept
    assert "# The first warehouse is where returns go" in after.yaml_text
    old_rest = before.yaml_text.split("warehouses:")[0]
    assert after.yaml_text.startswith(old_rest)
    assert "Northwind west returns" in after.yaml_text  # the other warehouse stays
    page = await client.get("/merchant/settings")
    assert "Acme returns hub" in page.text and "77 Harbor Rd" in page.text

    await new_return(db, signer, number="2001", policy_text=after.yaml_text)
    await runner.drain()
    [request] = carrier.requests
    assert request.to_address.street1 == "77 Harbor Rd"
    assert request.to_address.city == "Newark" and request.to_address.zip == "07105"
    assert request.to_address.name == "Acme returns hub"


async def test_adding_a_warehouse_publishes_it_after_the_default(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    async with db.session() as session:
        version = (await active_version(session)).version
    response = await post(
        client,
        "/merchant/settings/warehouses",
        {
            **NEW_MAIN,
            "new": "1",
            "id": "east",
            "name": "East coast returns",
            "base_version": str(version),
        },
    )
    assert response.status_code == 303
    async with db.session() as session:
        live = await active_version(session)
    block = live.yaml_text.split("warehouses:")[1]
    assert block.index("main:") < block.index("west:") < block.index("east:")
    assert "East coast returns" in (await client.get("/merchant/settings")).text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"country": ""}, "Enter the country"),
        ({"country": "USA"}, "Country must be a two-letter ISO code"),
        ({"line1": "  "}, "Enter the street address"),
        ({"new": "1", "id": "west"}, "There is already a warehouse `west`"),
        ({"new": "1", "id": "East Coast"}, "Warehouse id must be lower-case letters"),
    ],
)
async def test_an_invalid_warehouse_never_publishes(client, db, change, message) -> None:
    await seed_shop(db)
    await login(client, db)
    async with db.session() as session:
        version = (await active_version(session)).version
    response = await post(
        client,
        "/merchant/settings/warehouses",
        {**NEW_MAIN, "base_version": str(version), **change},
    )
    assert response.status_code == 400 and message in response.text
    async with db.session() as session:
        versions = (await session.exec(select(PolicyVersion))).all()
    assert len(versions) == 1 and versions[0].active


async def test_a_stale_warehouse_form_does_not_replace_a_newer_policy(client, db) -> None:
    await seed_shop(db)
    await login(client, db)
    async with db.session() as session:
        version = (await active_version(session)).version
    await post(client, "/merchant/settings/warehouses", {**NEW_MAIN, "base_version": str(version)})
    stale = await post(
        client,
        "/merchant/settings/warehouses",
        {**NEW_MAIN, "city": "Trenton", "base_version": str(version)},
    )
    assert stale.status_code == 400 and f"Version {version + 1} was published" in stale.text
    async with db.session() as session:
        live = await active_version(session)
    assert live.version == version + 1 and "Trenton" not in live.yaml_text


# --- Who may -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["warehouse", "finance"])
async def test_other_roles_cannot_open_or_change_settings(client, db, role) -> None:
    await login(client, db, f"{role}@shop.example", role)
    assert (await client.get("/merchant/settings")).status_code == 403
    await client.get("/login")
    response = await post(
        client, "/merchant/settings/branding", {"store_name": "Hijacked", "brand_color": ""}
    )
    assert response.status_code == 403
    assert await settings_row(db) is None


async def test_admin_may_change_settings(client, db) -> None:
    await login(client, db, "root@shop.example", "admin")
    response = await save_branding(client, {"store_name": "Admin Store"})
    assert response.status_code == 303
    assert "Admin Store" in (await client.get("/")).text


async def test_merchant_home_links_to_settings(client, db) -> None:
    await login(client, db)
    assert 'href="/merchant/settings"' in (await client.get("/merchant")).text


# --- Pieces ------------------------------------------------------------------------------------


def test_only_the_warehouses_block_is_replaced() -> None:
    text = (
        "name: Shop  # the name\n"
        "# where parcels go\n"
        "warehouses:\n"
        "  main:  # the big one\n"
        "    name: Old\n"
        "\n"
        "    address: 1 Old Rd, Town\n"
        "\n"
        "# reasons come next\n"
        "reasons:\n"
        "  - {code: x, label: X}\n"
    )
    block = 'warehouses:\n  main:\n    name: "New"\n    address: "2 New Rd, Town"\n'
    assert replace_warehouses_block(text, block) == (
        "name: Shop  # the name\n"
        "# where parcels go\n" + block + "\n"
        "# reasons come next\n"
        "reasons:\n"
        "  - {code: x, label: X}\n"
    )
    flow = "name: Shop\nwarehouses: {main: {name: A, address: B}}\nreasons: []\n"
    assert replace_warehouses_block(flow, block) == "name: Shop\n" + block + "reasons: []\n"


async def test_other_processes_see_a_save_within_the_cache_time(db, settings, client) -> None:
    """Each process caches the branding for a few seconds; a save elsewhere shows after that."""
    now = [1000.0]
    other_replica = SettingsCache(settings, clock=lambda: now[0])
    assert (await other_replica.get(db)).branding.name == "Demo Store"
    await login(client, db)
    await save_branding(client, {"store_name": "Acme Outfitters"})
    assert "Acme Outfitters" in (await client.get("/")).text  # the saving process: at once
    now[0] += 4.9
    assert (await other_replica.get(db)).branding.name == "Demo Store"  # still cached
    now[0] += 0.2
    assert (await other_replica.get(db)).branding.name == "Acme Outfitters"


async def test_the_uploaded_logo_is_printed_on_the_slip_and_shown_in_emails(
    client, db, jobs, settings, signer
) -> None:
    from pypdf import PdfReader

    def page_images(ret_path: str) -> list[tuple[int, int]]:
        page = PdfReader(settings.data_dir / ret_path).pages[0]
        return sorted(image.image.size for image in page.images)

    before = await new_return(db, signer, "1001")
    await jobs.drain()
    async with db.session() as session:
        plain = page_images((await session.get(Return, before.id)).slip_path)

    await login(client, db)
    png = png_bytes()
    assert await save_branding(client, {}, files={"logo": ("logo.png", png, "image/png")})
    after = await new_return(db, signer, "1002")
    await jobs.drain()
    async with db.session() as session:
        branded = page_images((await session.get(Return, after.id)).slip_path)

    from PIL import Image

    logo_size = Image.open(io.BytesIO(png)).size
    assert logo_size not in plain
    assert branded.count(logo_size) == 1 and len(branded) == len(plain) + 1
    async with db.session() as session:
        row = await session.get(StoreSettings, 1)
        mails = (
            await session.exec(select(MailMessage).where(MailMessage.return_id == after.id))
        ).all()
    logo_url = f"{settings.base_url}/brand/logo?v={row.logo_media_id}"
    assert mails and all(f'<img src="{logo_url}"' in mail.html_body for mail in mails)
