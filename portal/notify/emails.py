"""E-mails rendered from ``templates/email/<name>.html``: one file, three parts.

Each template defines ``subject``, ``text`` and ``content`` blocks (the layout wraps the
content in HTML), so the plain-text and HTML versions of a message live side by side.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.money.currency import format_money
from portal.notify.mailer import Email

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"


@lru_cache(maxsize=2)
def _environment(html: bool = True) -> Environment:
    """Templates for the HTML part escape what they insert; the subject and plain-text parts
    are not HTML, so there a shopper called O'Brien stays O'Brien."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]) if html else False,
        undefined=StrictUndefined,
    )
    env.filters["money"] = lambda amount, currency="USD": format_money(int(amount), currency)
    return env


def render_email(
    name: str, to: str, context: dict[str, Any], return_id: int | None = None
) -> Email:
    def part(which: str) -> str:
        template = _environment(html=which == "html").get_template(f"email/{name}.html")
        return template.render({**context, "part": which}).strip()

    return Email(
        to=to,
        subject=" ".join(part("subject").split()),
        text=part("text") + "\n",
        html=part("html"),
        template=name,
        return_id=return_id,
    )
