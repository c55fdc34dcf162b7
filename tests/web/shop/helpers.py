"""Driving the shopper pages as a browser without JavaScript would."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import csrf_token
from tests.returns.builders import EMAIL


async def open_order(client: Any, number: str = "1001", contact: str = EMAIL) -> Any:
    await client.get("/")
    return await client.post(
        "/",
        data={"order_number": number, "contact": contact, "_csrf_token": csrf_token(client)},
        follow_redirects=False,
    )


async def post_items(
    client: Any,
    items: dict[int, dict[str, Any]],
    *,
    files: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    policy_version: Any = None,
) -> Any:
    """``items``: order line id -> {qty, reason, comment?, photo_id?}."""
    page = await client.get("/order")
    assert page.status_code == 200, page.text
    if policy_version is None:
        match = re.search(r'name="policy_version" value="(\d+)"', page.text)
        policy_version = match.group(1) if match else ""
    data: dict[str, Any] = {"_csrf_token": csrf_token(client), "policy_version": policy_version}
    for line_id, item in items.items():
        data[f"qty-{line_id}"] = str(item.get("qty", 1))
        data[f"reason-{line_id}"] = item.get("reason", "")
        data[f"comment-{line_id}"] = item.get("comment", "")
        if item.get("photo_id"):
            data[f"photo_id-{line_id}"] = str(item["photo_id"])
    data.update(extra or {})
    return await client.post("/order/items", data=data, files=files or None, follow_redirects=False)


async def post_options(
    client: Any, choices: dict[int, tuple[str, int | None]], policy_version: Any = None
) -> Any:
    page = await client.get("/order/options")
    assert page.status_code == 200, page.text
    if policy_version is None:
        policy_version = re.search(r'name="policy_version" value="(\d+)"', page.text).group(1)
    data: dict[str, Any] = {"_csrf_token": csrf_token(client), "policy_version": policy_version}
    for line_id, (resolution, variant) in choices.items():
        data[f"resolution-{line_id}"] = resolution
        if variant is not None:
            data[f"variant-{line_id}"] = str(variant)
    return await client.post("/order/options", data=data, follow_redirects=False)


def confirm_fields(review_html: str) -> dict[str, str]:
    key = re.search(r'name="submission_key" value="([^"]+)"', review_html).group(1)
    version = re.search(r'name="policy_version" value="(\d+)"', review_html).group(1)
    return {"submission_key": key, "policy_version": version}


async def confirm(client: Any, fields: dict[str, str] | None = None) -> Any:
    if fields is None:
        review = await client.get("/order/review")
        assert review.status_code == 200, review.text
        fields = confirm_fields(review.text)
    return await client.post(
        "/order/confirm", data={**fields, "_csrf_token": csrf_token(client)}, follow_redirects=False
    )


async def make_return(
    client: Any,
    items: dict[int, dict[str, Any]],
    choices: dict[int, tuple[str, int | None]],
    **kw: Any,
) -> str:
    """The whole journey; returns the new RMA number."""
    response = await post_items(client, items, **kw)
    assert response.status_code == 303, response.text
    response = await post_options(client, choices)
    assert response.status_code == 303, response.text
    response = await confirm(client)
    assert response.status_code == 303, response.text
    return response.headers["location"].split("/r/")[1].split("?")[0]


def text(response: Any) -> str:
    """The page as a person reads it: tags dropped, entities decoded, spaces collapsed."""
    import html

    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", response.text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())
