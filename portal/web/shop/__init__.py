"""The shopper's portal (``/``): public, branded."""

from __future__ import annotations

from litestar import Router, get
from litestar.response import Template


@get("/", name="shop.home", sync_to_thread=False)
def shop_home() -> Template:
    return Template("shop/index.html")


shop_router = Router(path="/", route_handlers=[shop_home], include_in_schema=False)
