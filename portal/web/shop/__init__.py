"""The shopper's portal (``/``): public, branded, and scoped to one order per session."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from portal.web.deps import provide_session
from portal.web.shop.routes import (
    cancel,
    cancel_page,
    choose_items,
    choose_options,
    confirm,
    documents,
    exchange_picker,
    label_pdf,
    leave,
    lookup,
    open_link,
    photo,
    review,
    shop_home,
    slip_pdf,
    status_page,
    submit_items,
    submit_options,
)

shop_router = Router(
    path="/",
    route_handlers=[
        shop_home,
        lookup,
        leave,
        open_link,
        choose_items,
        submit_items,
        choose_options,
        exchange_picker,
        submit_options,
        review,
        confirm,
        status_page,
        documents,
        label_pdf,
        slip_pdf,
        cancel_page,
        cancel,
        photo,
    ],
    dependencies={"db_session": Provide(provide_session)},
    include_in_schema=False,
)

__all__ = ["shop_router"]
