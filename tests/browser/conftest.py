"""Playwright driving Debian's Chromium against the live app; screenshots under test-output/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from portal.app import create_app
from tests.support.live_server import serve_in_thread
from tests.support.services import chromium_path, run_async, unavailable

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")  # Playwright's sync API holds the main thread's event loop:
def browser() -> Iterator[object]:  # release it before the async tests of other modules run
    executable = chromium_path()
    if executable is None:
        unavailable("Debian chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_url(settings) -> Iterator[str]:
    with serve_in_thread(create_app(settings)) as url:
        yield url


def watch_csp(page: object) -> list[str]:
    """Chromium reports each Content-Security-Policy refusal on the console: collect them."""
    refused: list[str] = []

    def on_console(message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text:
            refused.append(text)

    page.on("console", on_console)  # type: ignore[attr-defined]
    return refused


@pytest.fixture
def page(browser, request) -> Iterator[object]:
    """Every journey on this page also checks the pages work under the CSP: a refused
    script, style, image or frame fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    refused = watch_csp(page)
    yield page
    context.close()
    assert not refused, f"Content-Security-Policy violations: {refused}"


@pytest.fixture
def screenshot(page, request):
    OUTPUT.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = OUTPUT / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


run = run_async
