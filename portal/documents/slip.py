"""The return packing slip: a branded PDF the shopper puts in the parcel.

The RMA is printed as Code 128 so the warehouse can scan the slip when the label is damaged,
and a QR code links to the return's status page. Large returns paginate cleanly: the table
header repeats, rows never split, and every page says "Page X of Y".

Performance: the Jinja environment, the parsed stylesheet and the WeasyPrint font
configuration are built once per process; barcodes are cached by value.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any, Literal

import jinja2

from portal.documents.barcodes import code128_img, qr_img

__all__ = [
    "DEFAULT_PACKING_INSTRUCTIONS",
    "SlipData",
    "SlipLine",
    "StoreBranding",
    "render_bare_document",
    "render_packing_slip",
    "render_packing_slip_with_pages",
]

DEFAULT_PRIMARY_COLOUR = "#1f3a5f"
_COLOUR = re.compile(r"^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$")
TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
_SLIP_CSS = TEMPLATES_DIR / "documents" / "slip.css"

DEFAULT_PACKING_INSTRUCTIONS: tuple[str, ...] = (
    "Put the items listed above back in their original packaging where you can.",
    "Place this slip inside the parcel, on top of the items.",
    "Seal the parcel and stick the return label on the outside, covering old labels.",
    "Drop the parcel off with the carrier shown on the label and keep the receipt.",
)


@dataclass(frozen=True, slots=True)
class StoreBranding:
    """How the store presents itself on documents."""

    name: str
    logo_url: str | None = None
    primary_colour: str = DEFAULT_PRIMARY_COLOUR


@dataclass(frozen=True, slots=True)
class SlipLine:
    """One returned item as the shopper and the warehouse should read it."""

    title: str
    variant: str | None
    sku: str
    quantity: int
    reason_label: str
    resolution_label: str


@dataclass(frozen=True, slots=True)
class SlipData:
    """Everything printed on a packing slip (already formatted for people)."""

    brand: StoreBranding
    rma: str
    status_url: str
    created_at: datetime
    shopper_name: str
    shopper_address: tuple[str, ...]
    warehouse_name: str
    warehouse_address: tuple[str, ...]
    lines: tuple[SlipLine, ...]
    packing_instructions: tuple[str, ...] = field(default=DEFAULT_PACKING_INSTRUCTIONS)
    page_size: Literal["letter", "A4"] = "letter"

    def __post_init__(self) -> None:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")
        if self.page_size not in ("letter", "A4"):
            raise ValueError("page_size must be 'letter' or 'A4'")


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR / "documents"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _colour(value: str | None) -> str:
    # The colour is written into CSS, where HTML escaping does not protect us.
    return value if value and _COLOUR.match(value) else DEFAULT_PRIMARY_COLOUR


def brand_css(colour: str, page_size: str) -> str:
    """The per-brand part of the slip's CSS (validated colour, known page size only)."""
    colour = _colour(colour)
    if page_size not in ("letter", "A4"):
        raise ValueError("page_size must be 'letter' or 'A4'")
    return (
        f"@page {{ size: {page_size}; }}\n"
        f".brand-name, .instructions h2 {{ color: {colour}; }}\n"
        f".head {{ border-bottom-color: {colour}; }}\n"
        f".items th {{ background: {colour}; }}\n"
    )


@functools.lru_cache(maxsize=256)
def _brand_stylesheet(colour: str, page_size: str) -> Any:
    from portal.documents.pdf import stylesheet_from_string_uncached  # WeasyPrint: on use

    return stylesheet_from_string_uncached(brand_css(colour, page_size))


def slip_html(slip: SlipData) -> str:
    """The slip as HTML (useful for previews and for debugging the layout)."""
    from portal.documents.pdf import static_url  # WeasyPrint is imported only to render

    template = _environment().get_template("packing_slip.html")
    return template.render(
        slip=slip,
        logo_url=static_url(slip.brand.logo_url),
        rma_barcode=code128_img(slip.rma, height_mm=11, module_mm=0.3, max_width_mm=70),
        qr_code=qr_img(slip.status_url, size_mm=24),
        created=slip.created_at.strftime("%d %b %Y"),
        total_units=sum(line.quantity for line in slip.lines),
    )


def render_packing_slip_with_pages(slip: SlipData) -> tuple[bytes, int]:
    """The slip PDF and its page count."""
    from portal.documents.pdf import render_pdf_with_pages, stylesheet_from_file  # WeasyPrint

    stylesheets = [
        stylesheet_from_file(_SLIP_CSS),
        _brand_stylesheet(_colour(slip.brand.primary_colour), slip.page_size),
    ]
    return render_pdf_with_pages(slip_html(slip), stylesheets)


def render_packing_slip(slip: SlipData) -> bytes:
    """The packing slip as PDF bytes."""
    return render_packing_slip_with_pages(slip)[0]


def render_bare_document(n_rows: int) -> bytes:
    """The benchmark baseline: the text of a slip with `n_rows` lines, as plain unstyled HTML
    (no stylesheet, barcodes, QR code, brand colours or page furniture), rendered through
    the same WeasyPrint pipeline.

    Comparing the two isolates what the slip's design costs on top of WeasyPrint itself.
    """
    from portal.documents.pdf import render_pdf_with_pages  # WeasyPrint: on use only

    rows = "".join(
        f"<tr><td>{i}</td><td>Trail Runner Jacket {i}"
        f"{'<div>Size M / Forest green</div>' if i % 2 else ''}</td><td>TRJ-{i:04d}-M</td>"
        f"<td>{1 + (i % 3 == 0)}</td><td>Too small</td>"
        f"<td>{'Exchange' if i % 2 else escape('Store credit (+10%)')}</td></tr>"
        for i in range(1, n_rows + 1)
    )
    instructions = "".join(f"<li>{step}</li>" for step in DEFAULT_PACKING_INSTRUCTIONS)
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Return RMA-7KQ2-93XD</title>"
        "</head><body><h1>Acme Outdoor Co.</h1><p>Return packing slip</p>"
        "<p>Return authorisation<br>RMA-7KQ2-93XD<br>Created 07 Mar 2025</p>"
        "<p>From<br>Jane Shopper<br>12 Elm Street<br>Apt 4<br>Springfield, IL 62704<br>US</p>"
        "<p>Send to<br>Acme Returns Warehouse<br>500 Industrial Pkwy<br>Reno, NV 89502<br>US</p>"
        "<p>Follow your return<br>https://returns.acme.example/r/RMA-7KQ2-93XD?t=3f9a</p>"
        "<table><thead><tr><th>#</th><th>Item</th><th>SKU</th><th>Qty</th><th>Reason</th>"
        f"<th>Resolution</th></tr></thead><tbody>{rows}</tbody></table>"
        f"<p>{n_rows} items in this return</p><h2>Packing instructions</h2><ol>{instructions}</ol>"
        "</body></html>"
    )
    return render_pdf_with_pages(html)[0]
