"""PDF documents (packing slips, label rendering helpers) and barcodes.

Submodules are imported on use: WeasyPrint takes about a second to import, and code that only
needs barcodes or the slip's data types should not pay for it up front.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.documents.barcodes import code128_svg, qr_svg
    from portal.documents.slip import (
        SlipData,
        SlipLine,
        StoreBranding,
        render_bare_document,
        render_packing_slip,
    )

__all__ = [
    "SlipData",
    "SlipLine",
    "StoreBranding",
    "code128_svg",
    "qr_svg",
    "render_bare_document",
    "render_packing_slip",
]

_LOCATIONS = {
    "code128_svg": "portal.documents.barcodes",
    "qr_svg": "portal.documents.barcodes",
    "SlipData": "portal.documents.slip",
    "SlipLine": "portal.documents.slip",
    "StoreBranding": "portal.documents.slip",
    "render_bare_document": "portal.documents.slip",
    "render_packing_slip": "portal.documents.slip",
}


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
