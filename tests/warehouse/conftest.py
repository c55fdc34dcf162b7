"""Returns on their way to the warehouse, made through the real domain and label jobs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from portal.models.returns import Return, ReturnLine
from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from portal.returns.receiving import Station
from tests.conftest import TEST_SECRET
from tests.factories import make_user
from tests.returns.builders import seed_shop
from tests.returns.helpers import create

_numbers = iter(range(5001, 9999))


@dataclass
class Shipped:
    ret: Return
    lines: list[ReturnLine]
    variants: dict[str, int]
    order_lines: dict[str, int]


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(TEST_SECRET)


@pytest.fixture
async def worker(db) -> Any:
    return await make_user(db, "wendy@shop.example", "warehouse")


@pytest.fixture
def station(worker) -> Station:
    return Station(worker.id, f"user:{worker.email}", "main", "dock-1")


@pytest.fixture
def shipped(db, jobs, signer):
    """``await shipped({"L1": (2, "refund")})``: a return with its sandbox label issued.

    Values are ``(quantity, resolution)`` or ``(quantity, "exchange", sku)``; the reason
    is ``changed_mind`` unless a fourth item gives one.
    """

    async def make(items: dict[str, tuple[Any, ...]], **shop_kw: Any) -> Shipped:
        shop = await seed_shop(db, number=str(next(_numbers)), **shop_kw)
        requests, choices = [], {}
        for ref, spec in items.items():
            line_id = shop.lines[ref]
            quantity, resolution = spec[0], spec[1]
            variant = shop.variants[spec[2]] if resolution == "exchange" else None
            reason = spec[3] if len(spec) > 3 else "changed_mind"
            requests.append(ItemRequest(line_id, quantity, reason))
            choices[line_id] = Choice(resolution, variant)
        done = await create(db, signer, shop.order_id, requests, choices)
        await jobs.drain()
        async with db.session() as session:
            ret = await session.get(Return, done.ret.id)
            from sqlmodel import select

            lines = (
                await session.exec(
                    select(ReturnLine).where(ReturnLine.return_id == ret.id).order_by(ReturnLine.id)
                )
            ).all()
        assert ret.status == "label_issued" and ret.tracking_code, ret.status
        return Shipped(ret, list(lines), shop.variants, shop.lines)

    return make
