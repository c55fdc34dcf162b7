"""Barcodes as inline SVG strings, for HTML pages and WeasyPrint documents alike.

Vector output keeps barcodes crisp at any print resolution and needs no image files. The
human-readable text is left to the surrounding HTML so that it stays selectable/extractable.
"""

from __future__ import annotations

import base64
import functools
import io
import re
import struct
import zlib

import barcode
import segno

__all__ = ["code128_img", "code128_modules", "code128_svg", "qr_img", "qr_svg"]

_QUIET_ZONE_MODULES = 10  # Code 128 asks for at least 10 modules of quiet zone each side.


def code128_modules(data: str) -> str:
    """The Code 128 symbol for `data` as a string of modules ("1" bar, "0" space).

    python-barcode does the encoding (charset switching, checksum, stop pattern).
    """
    if not data:
        raise ValueError("barcode data must not be empty")
    return barcode.get("code128", data).build()[0]


@functools.lru_cache(maxsize=512)
def code128_svg(
    data: str,
    *,
    height_mm: float = 12.0,
    module_mm: float = 0.33,
    max_width_mm: float | None = None,
) -> str:
    """Code 128 symbol for `data` as an `<svg>` element string (no XML prolog).

    Why not python-barcode's SVGWriter: it emits one `<rect>` per bar in absolute mm, which
    WeasyPrint styles and draws element by element (~15 ms per slip) and which cannot be
    rescaled. Here all bars are one `<path>` in module units with a viewBox, so the symbol
    scales exactly. `module_mm` is the narrowest bar (0.33 mm prints reliably on 203 dpi
    thermal printers); with `max_width_mm` it is shrunk (down to 0.19 mm) so the symbol,
    quiet zones included, fits. Cached because RMAs and tracking numbers repeat.
    """
    modules = code128_modules(data)
    total = len(modules) + 2 * _QUIET_ZONE_MODULES
    if max_width_mm is not None:
        module_mm = max(0.19, min(module_mm, max_width_mm / total))
    bars = []
    for match in re.finditer(r"1+", modules):
        x, width = match.start() + _QUIET_ZONE_MODULES, match.end() - match.start()
        bars.append(f"M{x} 0h{width}v1h-{width}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="barcode" role="img" '
        f'aria-label="Barcode {_attr(data)}" width="{total * module_mm:.2f}mm" '
        f'height="{height_mm:.2f}mm" viewBox="0 0 {total} 1" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges"><rect width="{total}" height="1" fill="#fff"/>'
        f'<path fill="#000" d="{"".join(bars)}"/></svg>'
    )


@functools.lru_cache(maxsize=512)
def qr_svg(data: str, *, size_mm: float = 25.0, error: str = "m") -> str:
    """QR code for `data` (typically a status-page URL) as an `<svg>` element string.

    The symbol is drawn in module units with a viewBox so it scales to `size_mm` exactly.
    """
    if not data:
        raise ValueError("QR data must not be empty")
    qr = segno.make(data, error=error, micro=False)
    buffer = io.BytesIO()
    qr.save(buffer, kind="svg", xmldecl=False, svgns=True, nl=False, border=4, scale=1)
    svg = buffer.getvalue().decode("utf-8")
    width, _ = qr.symbol_size(scale=1, border=4)
    # Replace segno's pixel size by a physical size while keeping its coordinate system.
    svg = re.sub(
        r'<svg([^>]*?) width="\d+" height="\d+"',
        (
            rf'<svg\1 width="{size_mm}mm" height="{size_mm}mm" '
            rf'viewBox="0 0 {width} {width}" role="img" aria-label="QR code"'
        ),
        svg,
        count=1,
    )
    return svg


# -- raster forms for PDFs --------------------------------------------------------------------
# WeasyPrint parses and draws SVG paths in Python at every render (~10 ms for a QR code),
# while a tiny PNG with one pixel per module is embedded as is. With `image-rendering:
# pixelated` the PDF viewer or printer scales it without smoothing, so edges stay as sharp as
# the vector form. Used by the packing slip and the sandbox label.


def _png(rows: list[list[int]]) -> bytes:
    """An 8-bit greyscale PNG from rows of 0 (black) / 1 (white) pixels.

    8-bit rather than 1-bit: WeasyPrint converts 1-bit images to RGB and re-encodes them,
    which costs more than the few hundred extra bytes.
    """
    width = len(rows[0])
    raw = b"".join(b"\x00" + bytes(255 if px else 0 for px in row) for row in rows)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, len(rows), 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@functools.lru_cache(maxsize=512)
def code128_img(
    data: str,
    *,
    height_mm: float = 12.0,
    module_mm: float = 0.33,
    max_width_mm: float | None = None,
    css_class: str = "barcode",
) -> str:
    """Code 128 as an `<img>` tag (PNG, one pixel per module) sized like `code128_svg`."""
    modules = code128_modules(data)
    total = len(modules) + 2 * _QUIET_ZONE_MODULES
    if max_width_mm is not None:
        module_mm = max(0.19, min(module_mm, max_width_mm / total))
    quiet = [1] * _QUIET_ZONE_MODULES
    row = quiet + [0 if m == "1" else 1 for m in modules] + quiet
    return (
        f'<img class="{_attr(css_class)}" src="{_data_uri(_png([row]))}" '
        f'alt="Barcode {_attr(data)}" style="width:{total * module_mm:.2f}mm;'
        f'height:{height_mm:.2f}mm;image-rendering:pixelated">'
    )


@functools.lru_cache(maxsize=512)
def qr_img(data: str, *, size_mm: float = 25.0, error: str = "m", css_class: str = "qr") -> str:
    """QR code as an `<img>` tag (PNG, one pixel per module, 4-module quiet zone)."""
    if not data:
        raise ValueError("QR data must not be empty")
    qr = segno.make(data, error=error, micro=False)
    rows = [[0 if dark else 1 for dark in row] for row in qr.matrix_iter(scale=1, border=4)]
    return (
        f'<img class="{_attr(css_class)}" src="{_data_uri(_png(rows))}" alt="QR code" '
        f'style="width:{size_mm}mm;height:{size_mm}mm;image-rendering:pixelated">'
    )


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )
