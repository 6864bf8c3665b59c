"""The real app on 127.0.0.1 (temp SQLite, 1,500 catalog tracks, 4 analysed demo tracks) and
Debian's chromium driven by Playwright (see ../shared/notes/browser-tests.md)."""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.library import add_library
from moodtune.config import Settings
from moodtune.storage import open_storage

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
    data = tmp_path_factory.mktemp("webdata")
    settings = Settings(data_dir=data, catalog_refresh_s=0)
    engine = create_db_engine(settings.database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    import_catalog(small_catalog, session_factory=factory)
    music = data / "music"
    music.mkdir()
    for name in ("etr_1.ogg", "supertux_1.ogg", "etr_0.ogg", "wesnoth_1.ogg"):
        shutil.copy(DEMO / name, music / name)
    add_library(music, session_factory=factory, storage=open_storage(settings.storage_url))
    engine.dispose()
    return settings


@pytest.fixture(scope="session")
def live_server(web_settings: Settings) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(web_settings), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        if os.environ.get("MOODTUNE_REQUIRE_BROWSER"):
            pytest.fail(f"the browser tests need {CHROMIUM} (MOODTUNE_REQUIRE_BROWSER is set)")
        pytest.skip(f"no chromium at {CHROMIUM}: apt-get install chromium")
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
