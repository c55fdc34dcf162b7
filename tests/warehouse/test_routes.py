"""The scan station over HTTP: plain forms, HTMX fragments and role guards."""

from __future__ import annotations

from sqlmodel import func, select

from portal.models import Return, ReturnLine
from portal.models.warehouse import ParcelReceipt, UnknownParcel
from tests.conftest import csrf_token, submit_form
from tests.factories import PASSWORD, make_user

WHERE = {"warehouse": "main", "station": "dock-1"}


async def login(client, db, email: str, *roles: str):
    user = await make_user(db, email, *roles)
    response = await submit_form(
        client,
        "/login",
        "/login",
        {"email": email, "password": PASSWORD, "next": ""},
        follow_redirects=False,
    )
    assert response.status_code == 303
    return user


async def post(client, path: str, data: dict, htmx: bool = False):
    headers = {"HX-Request": "true"} if htmx else {}
    return await client.post(
        path,
        data={**WHERE, **data, "_csrf_token": csrf_token(client)},
        headers=headers,
        follow_redirects=False,
    )


async def count(db, model) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(model))).one()


async def status_of(db, return_id: int) -> str:
    async with db.session() as session:
        return (await session.get(Return, return_id)).status


async def test_station_page_has_one_focused_scan_input(client, db) -> None:
    await login(client, db, "wendy@shop.example", "warehouse")
    page = await client.get("/warehouse/?station=dock-1")
    assert page.status_code == 200
    assert 'name="code"' in page.text and "autofocus" in page.text
    assert 'action="/warehouse/scan"' in page.text and "/static/js/scan.js" in page.text
    assert 'value="dock-1"' in page.text


async def test_guards(client, db, shipped) -> None:
    s = await shipped({"L1": (1, "refund")})
    anonymous = await client.get("/warehouse/", follow_redirects=False)
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
    await login(client, db, "mia@shop.example", "merchant")
    assert (await client.get("/warehouse/")).status_code == 403
    assert (await client.get("/warehouse/queues")).status_code == 403
    refused = await post(client, "/warehouse/scan", {"code": s.ret.rma})
    assert refused.status_code == 403
    assert await status_of(db, s.ret.id) == "label_issued"


async def test_scan_by_tracking_as_a_plain_form_then_again(client, db, shipped) -> None:
    s = await shipped({"L1": (2, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    page = await post(client, "/warehouse/scan", {"code": s.ret.tracking_code})
    assert page.status_code == 200 and "<html" in page.text
    assert f"Received {s.ret.rma}" in page.text and "tone-ok" in page.text
    assert "Save grade" in page.text and "Classic Tee" in page.text
    again = await post(client, "/warehouse/scan", {"code": s.ret.tracking_code})
    assert "Already received" in again.text and "tone-attention" in again.text
    assert await count(db, ParcelReceipt) == 1


async def test_htmx_scan_by_rma_returns_only_the_fragment(client, db, shipped) -> None:
    s = await shipped({"L1": (2, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    fragment = await post(client, "/warehouse/scan", {"code": s.ret.rma.lower()}, htmx=True)
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and 'id="panel"' in fragment.text
    assert 'data-tone="ok"' in fragment.text
    assert await status_of(db, s.ret.id) == "received"


async def test_unknown_code_and_its_note(client, db) -> None:
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    page = await post(client, "/warehouse/scan", {"code": "MYSTERY-BOX-7"}, htmx=True)
    assert "No return matches" in page.text and "MYSTERY-BOX-7" in page.text
    async with db.session() as session:
        parcel = (await session.exec(select(UnknownParcel))).one()
    queues = await client.get("/warehouse/queues?warehouse=main")
    assert "MYSTERY-BOX-7" in queues.text
    refused = await post(client, f"/warehouse/unknown/{parcel.id}", {"notes": "", "resolved": "1"})
    assert refused.status_code == 400 and "Say how it was sorted out" in refused.text
    saved = await post(
        client, f"/warehouse/unknown/{parcel.id}", {"notes": "Scarf, order 1001", "resolved": "1"}
    )
    assert saved.status_code == 303
    queues = await client.get("/warehouse/queues?warehouse=main")
    assert "No unknown parcels" in queues.text
    empty = await post(client, "/warehouse/scan", {"code": "   "})
    assert empty.status_code == 400 and "Scan a label" in empty.text


async def test_grade_and_finish_over_forms(client, db, shipped) -> None:
    s = await shipped({"L1": (2, "refund"), "L4": (1, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    await post(client, "/warehouse/scan", {"code": s.ret.rma})
    tee, socks = s.lines
    early = await post(client, f"/warehouse/returns/{s.ret.id}/finish", {})
    assert early.status_code == 409 and "Grade every item first" in early.text
    bad = await post(
        client,
        f"/warehouse/lines/{tee.id}/grade",
        {"return_id": s.ret.id, "received_quantity": "5", "condition": "as_new", "accepted": "yes"},
    )
    assert bad.status_code == 400 and "from 0 to 2" in bad.text
    ok = await post(
        client,
        f"/warehouse/lines/{tee.id}/grade",
        {
            "return_id": s.ret.id,
            "received_quantity": "2",
            "condition": "as_new",
            "accepted": "yes",
            "disposition": "restock",
        },
    )
    assert ok.status_code == 303 and f"/warehouse/returns/{s.ret.id}" in ok.headers["location"]
    fragment = await post(
        client,
        f"/warehouse/lines/{socks.id}/grade",
        {
            "return_id": s.ret.id,
            "received_quantity": "1",
            "condition": "used",
            "accepted": "no",
            "disposition": "dispose",
            "note": "Worn socks",
        },
        htmx=True,
    )
    assert fragment.status_code == 200 and "Rejected" in fragment.text
    done = await post(client, f"/warehouse/returns/{s.ret.id}/finish", {})
    assert done.status_code == 200 and "Inspection finished" in done.text
    assert "auto-approved" in done.text and "$44.05" in done.text  # two tees less the label fee
    assert await status_of(db, s.ret.id) == "inspected"
    async with db.session() as session:
        line = await session.get(ReturnLine, socks.id)
    assert line.accepted is False and line.inspection_note == "Worn socks"


async def test_undo_is_for_admins_with_a_reason(client, db, shipped) -> None:
    s = await shipped({"L1": (1, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    await post(client, "/warehouse/scan", {"code": s.ret.rma})
    page = await client.get(f"/warehouse/returns/{s.ret.id}")
    assert "Undo this receipt" not in page.text
    refused = await post(client, f"/warehouse/returns/{s.ret.id}/undo", {"reason": "oops"})
    assert refused.status_code == 403
    assert await status_of(db, s.ret.id) == "received"

    await client.post("/logout", data={"_csrf_token": csrf_token(client)})
    await login(client, db, "ada@shop.example", "admin")
    page = await client.get(f"/warehouse/returns/{s.ret.id}")
    assert "Undo this receipt" in page.text
    missing = await post(client, f"/warehouse/returns/{s.ret.id}/undo", {"reason": " "})
    assert missing.status_code == 400 and "Say why the scan is undone" in missing.text
    undone = await post(client, f"/warehouse/returns/{s.ret.id}/undo", {"reason": "Wrong box"})
    assert undone.status_code == 303
    assert await status_of(db, s.ret.id) == "label_issued"


async def test_queues_page_and_missing_return(client, db, shipped) -> None:
    s = await shipped({"L1": (1, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    page = await client.get("/warehouse/queues?warehouse=main")
    assert page.status_code == 200 and s.ret.rma in page.text and "expected" in page.text
    assert (await client.get("/warehouse/returns/999999")).status_code == 404
    receive = await post(client, f"/warehouse/returns/{s.ret.id}/receive", {})
    assert receive.status_code == 200 and f"Received {s.ret.rma}" in receive.text
    page = await client.get("/warehouse/queues?warehouse=main")
    assert "wendy" in page.text  # today's count per person


async def test_grader_adds_a_photo_and_a_bad_file_changes_nothing(client, db, shipped) -> None:
    from portal.models.warehouse import GradePhoto
    from tests.returns.builders import JPEG

    s = await shipped({"L1": (1, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    await post(client, "/warehouse/scan", {"code": s.ret.rma})
    line = s.lines[0]
    fields = {**WHERE, "return_id": str(s.ret.id), "_csrf_token": csrf_token(client)}
    bad = await client.post(
        f"/warehouse/lines/{line.id}/photos",
        data=fields,
        files={"photo": ("note.txt", b"not a picture", "text/plain")},
        follow_redirects=False,
    )
    assert bad.status_code == 400 and "not a photo we can read" in bad.text
    assert await count(db, GradePhoto) == 0
    good = await client.post(
        f"/warehouse/lines/{line.id}/photos",
        data=fields,
        files={"photo": ("torn.jpg", JPEG, "image/jpeg")},
        follow_redirects=False,
    )
    assert good.status_code == 303
    async with db.session() as session:
        photo = (await session.exec(select(GradePhoto))).one()
    page = await client.get(f"/warehouse/returns/{s.ret.id}")
    assert f'/photos/{photo.media_id}"' in page.text
    assert (await client.get(f"/photos/{photo.media_id}")).status_code == 200
