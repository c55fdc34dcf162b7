"""Grading forms with a return id that is not a number: a 400 with the reason, nothing kept."""

from __future__ import annotations

from sqlmodel import func, select

from portal.models import ReturnLine
from portal.models.warehouse import GradePhoto
from tests.conftest import csrf_token
from tests.returns.builders import JPEG
from tests.warehouse.test_routes import WHERE, login, post


async def test_grade_and_photo_with_a_non_numeric_return_id_are_refused(
    client, db, shipped
) -> None:
    s = await shipped({"L1": (1, "refund")})
    await login(client, db, "wendy@shop.example", "warehouse")
    await client.get("/warehouse/")
    await post(client, "/warehouse/scan", {"code": s.ret.rma})
    line = s.lines[0]
    graded = await post(
        client,
        f"/warehouse/lines/{line.id}/grade",
        {
            "return_id": "abc",
            "received_quantity": "1",
            "condition": "as_new",
            "accepted": "yes",
            "disposition": "restock",
        },
    )
    assert graded.status_code == 400
    assert "The return id must be a whole number." in graded.text
    photo = await client.post(
        f"/warehouse/lines/{line.id}/photos",
        data={**WHERE, "return_id": "abc", "_csrf_token": csrf_token(client)},
        files={"photo": ("torn.jpg", JPEG, "image/jpeg")},
        follow_redirects=False,
    )
    assert photo.status_code == 400
    assert "The return id must be a whole number." in photo.text
    async with db.session() as session:
        after = await session.get(ReturnLine, line.id)
        photos = (await session.exec(select(func.count()).select_from(GradePhoto))).one()
    assert after.received_quantity == line.received_quantity  # not graded
    assert after.condition == line.condition
    assert photos == 0
