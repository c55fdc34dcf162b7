"""Returns ready to ship, made through the real returns domain."""

from __future__ import annotations

import pytest

from portal.returns.create import Choice, ItemRequest
from portal.returns.links import LinkSigner
from tests.conftest import TEST_SECRET
from tests.returns.builders import seed_shop
from tests.returns.helpers import create


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(TEST_SECRET)


@pytest.fixture
def approved_return(db, signer):
    """An approved refund return of two tees; the outbox holds its label, slip and e-mail."""

    async def make(number: str = "1001"):
        shop = await seed_shop(db, number=number)
        tee = shop.lines["L1"]
        done = await create(
            db,
            signer,
            shop.order_id,
            [ItemRequest(tee, 2, "changed_mind")],
            {tee: Choice("refund")},
        )
        return done.ret

    return make
