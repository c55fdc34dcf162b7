"""Packing slip PDFs, barcodes and the document renderer's network guard."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest

from portal.documents.barcodes import code128_modules, code128_svg, qr_img, qr_svg
from portal.documents.slip import (
    SlipData,
    SlipLine,
    StoreBranding,
    brand_css,
    render_bare_document,
    render_packing_slip,
    slip_html,
)


def make_slip(n_lines: int, **overrides) -> SlipData:
    lines = tuple(
        SlipLine(
            title=f"Trail Runner Jacket {i}",
            variant=f"Size M / Colour {i}" if i % 2 else None,
            sku=f"TRJ-{i:04d}-M",
            quantity=1 + (i % 3 == 0),
            reason_label="Too small" if i % 2 else "Arrived damaged",
            resolution_label="Exchange" if i % 2 else "Store credit (+10%)",
        )
        for i in range(1, n_lines + 1)
    )
    slip = SlipData(
        brand=StoreBranding("Acme Outdoor Co.", None, "#0a7d4f"),
        rma="RMA-7KQ2-93XD",
        status_url="https://returns.acme.example/r/RMA-7KQ2-93XD?t=3f9a",
        created_at=datetime(2025, 3, 7, 16, 46, tzinfo=UTC),
        shopper_name="Jane Shopper",
        shopper_address=("12 Elm Street", "Apt 4", "Springfield, IL 62704", "US"),
        warehouse_name="Acme Returns Warehouse",
        warehouse_address=("500 Industrial Pkwy", "Reno, NV 89502", "US"),
        lines=lines,
    )
    return dataclasses.replace(slip, **overrides)


def test_normal_return_is_one_page_with_everything_on_it(pdf_reader, pdf_text):
    pdf = render_packing_slip(make_slip(3))

    assert len(pdf_reader(pdf).pages) == 1
    text = pdf_text(pdf)
    for expected in [
        "RMA-7KQ2-93XD",
        "Acme Outdoor Co.",
        "Trail Runner Jacket 1",
        "Trail Runner Jacket 3",
        "TRJ-0002-M",
        "Size M / Colour 1",
        "Arrived damaged",
        "Store credit (+10%)",
        "Acme Returns Warehouse",
        "500 Industrial Pkwy",
        "Reno, NV 89502",
        "Jane Shopper",
        "Packing instructions",
        "https://returns.acme.example/r/RMA-7KQ2-93XD?t=3f9a",
        "Page 1 of 1",
        "4 items in this return",
    ]:
        assert expected in text, expected


def test_large_return_paginates_cleanly(pdf_reader):
    pdf = render_packing_slip(make_slip(60))

    pages = [page.extract_text() for page in pdf_reader(pdf).pages]
    n = len(pages)
    assert n > 1
    for number, text in enumerate(pages, start=1):
        assert f"Page {number} of {n}" in text
        assert "Resolution" in text, f"table header not repeated on page {number}"
    for i in range(1, 61):
        sku = f"TRJ-{i:04d}-M"
        holding = [p for p, text in enumerate(pages) if re.search(rf"{sku}\b", text)]
        assert len(holding) == 1, f"{sku} printed on pages {holding}"
        page_text = pages[holding[0]]
        # A row never splits: its title (and variant) sit on the same page as its SKU.
        assert f"Trail Runner Jacket {i}" in page_text
        if i % 2:
            assert f"Size M / Colour {i}" in page_text
    assert "Packing instructions" in pages[-1]


def test_a_page_full_of_rows_still_fits(pdf_reader):
    counts = {n: len(pdf_reader(render_packing_slip(make_slip(n))).pages) for n in (12, 200)}
    assert counts[12] == 1
    assert counts[200] > 3


def test_brand_colour_cannot_inject_css(pdf_text):
    evil = "red}</style><script>x</script>"
    css = brand_css(evil, "letter")
    assert "script" not in css and "red" not in css
    assert "#1f3a5f" in css  # the safe default
    assert "#0a7d4f" in brand_css("#0a7d4f", "A4")
    with pytest.raises(ValueError):
        brand_css("#000", "letter; } body { display: none")
    slip = make_slip(1, brand=StoreBranding("Shop", None, evil))
    assert "RMA-7KQ2-93XD" in pdf_text(render_packing_slip(slip))


def test_text_is_escaped(pdf_text):
    slip = make_slip(1, shopper_name="<b>Bobby</b> & Co")
    assert "&lt;b&gt;Bobby&lt;/b&gt; &amp; Co" in slip_html(slip)
    assert "<b>Bobby</b> & Co" in pdf_text(render_packing_slip(slip))


def test_remote_logo_is_not_fetched(pdf_text):
    # The autouse network guard would fail this test if the renderer tried to connect.
    slip = make_slip(2, brand=StoreBranding("Acme", "https://cdn.example.com/logo.png"))
    assert "RMA-7KQ2-93XD" in pdf_text(render_packing_slip(slip))


def test_created_at_must_be_aware():
    with pytest.raises(ValueError):
        make_slip(1, created_at=datetime(2025, 3, 7, 16, 46))
    make_slip(1, created_at=datetime(2025, 3, 7, tzinfo=timezone(timedelta(hours=2))))


@pytest.mark.skipif(
    shutil.which("zbarimg") is None or shutil.which("pdftoppm") is None,
    reason="zbarimg (zbar-tools) and pdftoppm are needed to scan the codes",
)
def test_slip_codes_scan(tmp_path):
    slip = make_slip(3)
    (tmp_path / "slip.pdf").write_bytes(render_packing_slip(slip))
    subprocess.run(
        ["pdftoppm", "-png", "-r", "200", tmp_path / "slip.pdf", tmp_path / "slip"], check=True
    )
    scanned = subprocess.run(
        ["zbarimg", "-q", "--raw", tmp_path / "slip-1.png"], capture_output=True, text=True
    ).stdout.splitlines()
    assert sorted(scanned) == sorted([slip.rma, slip.status_url])


def test_code128_svg_draws_every_bar():
    modules = code128_modules("RMA-7KQ2-93XD")
    svg = code128_svg("RMA-7KQ2-93XD", height_mm=10)
    bars = re.findall(r"M(\d+) 0h(\d+)", svg)
    assert len(bars) == len(re.findall("1+", modules))
    assert sum(int(w) for _, w in bars) == modules.count("1")
    assert svg.startswith("<svg") and "<?xml" not in svg
    assert 'aria-label="Barcode RMA-7KQ2-93XD"' in svg


def test_code128_fits_a_maximum_width():
    svg = code128_svg("SBX1234567890123456", max_width_mm=40)
    width = float(re.search(r'width="([\d.]+)mm"', svg).group(1))
    assert width <= 40.01


def test_qr_svg_and_img():
    assert qr_svg("https://example.com/r/1", size_mm=20).startswith("<svg")
    assert 'width="20mm"' in qr_svg("https://example.com/r/1", size_mm=20)
    assert qr_img("https://example.com/r/1").startswith('<img class="qr" src="data:image/png;')
    with pytest.raises(ValueError):
        qr_svg("")


def test_bare_document_renders(pdf_reader):
    assert len(pdf_reader(render_bare_document(5)).pages) == 1
