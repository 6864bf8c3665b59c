"""The real app on 127.0.0.1 (temp SQLite, 1,500 catalog tracks, 4 analysed demo tracks) and
Debian's chromium driven by Playwright (see ../shared/notes/browser-tests.md)."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from moodtune.config import Settings
from tests.live import demo_settings, serve
from tests.required import unavailable

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo" / "music"
SCREENSHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="session")
def web_settings(tmp_path_factory: pytest.TempPathFactory, small_catalog: Path) -> Settings:
    return demo_settings(tmp_path_factory.mktemp("webdata"), small_catalog)


@pytest.fixture(scope="session")
def live_server(web_settings: Settings) -> Iterator[str]:
    with serve(web_settings) as url:
        yield url


def wait_until(page: Page, expression: str, timeout_s: float = 20) -> None:
    """Poll a JavaScript expression until it is truthy. page.evaluate goes through DevTools,
    which the page's Content-Security-Policy does not govern; Playwright's wait_for_function
    evaluates strings inside the page, which that policy (rightly) refuses."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {expression}"
        time.sleep(0.05)


#: Playwright's assertions retry until this many ms: generous, since a busy 2-core machine can
#: be slow; a passing assertion returns as soon as it holds.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        unavailable(
            "Chromium",
            "MOODTUNE_REQUIRE_BROWSER",
            f"{CHROMIUM} is missing (apt-get install chromium)",
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server: str):  # type: ignore[no-untyped-def]
    """A fresh browser profile (cookies, localStorage) per test, English, light scheme."""
    context = browser.new_context(
        locale="en-US", color_scheme="light", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(  # Chromium reports what the Content-Security-Policy blocked as console errors
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(live_server)
    page.wait_for_selector("body[data-ready='true']")
    yield page
    context.close()
    assert errors == [], f"JavaScript errors or CSP violations: {errors}"
