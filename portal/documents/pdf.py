"""WeasyPrint plumbing shared by slips and labels.

Why a module of its own: the font configuration and parsed stylesheets are expensive to build
and safe to reuse, so they are created once per process and shared by every render. Rendering
never touches the network: only `data:` URIs and files under the project's `static/` and
`templates/` folders can be loaded.
"""

from __future__ import annotations

import base64
import functools
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import unquote, urlsplit

import weasyprint
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"
_ALLOWED_ROOTS = (TEMPLATES_DIR.resolve(), STATIC_DIR.resolve())

# WeasyPrint does not promise thread safety and jobs render from worker threads; rendering is
# GIL-bound anyway, so one lock per process costs next to nothing.
_render_lock = threading.RLock()


@functools.cache
def font_config() -> FontConfiguration:
    """The process-wide font configuration (building one scans fontconfig)."""
    return FontConfiguration()


class LocalOnlyFetcher(URLFetcher):
    """Lets documents load `data:` URIs and project files only: no network, no SSRF."""

    def fetch(self, url: str, headers: dict[str, str] | None = None):
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(unquote(parts.path)).resolve()
            if any(path.is_relative_to(root) for root in _ALLOWED_ROOTS):
                return super().fetch(url, headers)
        raise ValueError(f"documents may not load {url!r} (only data: and project files)")


def static_url(url: str | None) -> str | None:
    """Map a web path like `/static/brand/logo.png` to a file URL the fetcher accepts.

    Other URLs are returned unchanged (and will be refused at render time unless `data:`).
    """
    if url and url.startswith("/static/"):
        return (STATIC_DIR / url.removeprefix("/static/")).resolve().as_uri()
    return url


@functools.cache
def stylesheet_from_file(path: Path) -> weasyprint.CSS:
    """Parse a stylesheet once per process; WeasyPrint CSS objects are reusable."""
    return weasyprint.CSS(
        string=path.read_text(encoding="utf-8"),
        base_url=str(path.parent),
        font_config=font_config(),
        url_fetcher=LocalOnlyFetcher(),
    )


def stylesheet_from_string_uncached(css: str) -> weasyprint.CSS:
    """Parse a stylesheet string with the shared font config (callers choose the caching)."""
    return weasyprint.CSS(string=css, font_config=font_config(), url_fetcher=LocalOnlyFetcher())


@functools.cache
def stylesheet_from_string(css: str) -> weasyprint.CSS:
    """Parse a constant stylesheet string once per process (for module constants only:
    the cache is unbounded)."""
    return stylesheet_from_string_uncached(css)


def render_pdf_with_pages(
    html: str,
    stylesheets: Sequence[weasyprint.CSS] = (),
    *,
    base_url: str | None = None,
) -> tuple[bytes, int]:
    """Render HTML to PDF bytes (and its page count) with the shared font config and the
    local-only fetcher."""
    document = weasyprint.HTML(
        string=html,
        base_url=base_url or str(TEMPLATES_DIR),
        url_fetcher=LocalOnlyFetcher(),
    )
    with _render_lock:
        rendered = document.render(stylesheets=list(stylesheets), font_config=font_config())
        return rendered.write_pdf(), len(rendered.pages)


def render_pdf(
    html: str,
    stylesheets: Sequence[weasyprint.CSS] = (),
    *,
    base_url: str | None = None,
) -> bytes:
    """Render HTML to PDF bytes; see `render_pdf_with_pages`."""
    return render_pdf_with_pages(html, stylesheets, base_url=base_url)[0]


_IMAGE_MIME = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def sniff_image(data: bytes) -> str | None:
    """The MIME type of a raster image from its magic bytes, or None."""
    for magic, mime in _IMAGE_MIME.items():
        if data.startswith(magic):
            return mime
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None


def image_to_pdf(data: bytes, *, width_in: float = 4, height_in: float = 6) -> bytes:
    """Wrap a raster label (PNG/JPEG/GIF) in a one-page PDF of the label's size.

    Carriers hand out 4x6 PNG labels; we always keep PDFs so printing and storage have a
    single format. A landscape image gets a landscape page so nothing is scaled down.
    """
    mime = sniff_image(data)
    if mime is None:
        raise ValueError("not a PNG, JPEG or GIF image")
    size = _png_size(data)
    if size and size[0] > size[1] and width_in < height_in:
        width_in, height_in = height_in, width_in
    uri = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    html = (
        "<!doctype html><html><head><style>"
        f"@page{{size:{width_in}in {height_in}in;margin:0}}"
        "html,body{margin:0;padding:0}"
        f"img{{display:block;width:{width_in}in;height:{height_in}in;object-fit:contain}}"
        f'</style></head><body><img src="{uri}" alt="shipping label"></body></html>'
    )
    return render_pdf(html)
