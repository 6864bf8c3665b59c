"""The web page in a real browser against the real backend (Debian chromium + Playwright)."""

import json
import re
from pathlib import Path

from playwright.sync_api import Page, expect
from sqlalchemy import select

from moodtune.catalog.db import create_db_engine
from moodtune.catalog.models import FeedbackEvent
from moodtune.config import Settings
from tests.web.conftest import REPO, SCREENSHOTS, wait_until

FACE = REPO / "tests" / "fixtures" / "astronaut.jpg"
NO_FACE = REPO / "tests" / "fixtures" / "coffee.jpg"


def _upload(page: Page, path: Path = FACE) -> None:
    page.set_input_files("#file-input", str(path))


def _screenshot(page: Page, name: str) -> None:
    """The result at the top of the viewport, as a listener sees it (for the README)."""
    page.evaluate(
        "document.getElementById('result').scrollIntoView({block: 'start', behavior: 'instant'})"
    )
    # lazy covers below the fold never load (and are not in the picture)
    wait_until(page, "[...document.images].every((img) => img.complete || img.loading === 'lazy')")
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


def _feedback(settings: Settings) -> list[tuple[str, int | None]]:
    engine = create_db_engine(settings.database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(FeedbackEvent.kind, FeedbackEvent.position_ms).order_by(FeedbackEvent.id)
        ).all()
    engine.dispose()
    return [(kind, position) for kind, position in rows]


def test_a_face_photo_gives_boxes_bars_map_and_a_playlist(page: Page) -> None:
    _upload(page)
    expect(page.locator("#result")).to_be_visible()
    expect(page.locator(".box")).to_have_count(1)
    expect(page.locator(".box")).to_contain_text("happy")
    expect(page.locator(".face-bars [role=meter]")).to_have_count(7)
    expect(page.locator("#mood-message")).to_have_text(
        "You look happy. Here is music that feels the same."
    )
    expect(page.locator("#playlist .track")).to_have_count(10)
    expect(page.locator("#playlist .track").first.locator(".reasons li").first).not_to_be_empty()
    expect(page.locator("#circumplex .map-mood")).to_have_count(1)
    _screenshot(page, "light")

    page.check("input[value=journey]")
    page.fill("#length", "5")
    with page.expect_response("**/api/v1/recommendations") as answer:
        page.click("#new-list")  # same photo, new parameters, nothing uploaded again
    assert answer.value.ok
    expect(page.locator("#playlist .track")).to_have_count(5)
    expect(page.locator("#circumplex .map-path")).to_have_count(1)


def test_reasons_say_how_listeners_hear_each_track(page: Page) -> None:
    _upload(page)
    reasons = page.locator("#playlist .track .reasons li:first-child")
    expect(reasons).to_have_count(10)
    heard = re.compile(r"^Listeners (mostly |probably )?hear it as .+ \(\d+ ?%.*\) — ")
    for i in range(10):
        expect(reasons.nth(i)).to_have_text(heard)
    expect(page.locator("#circumplex .map-track")).to_have_count(10)  # each at its heard point
    page.check("#playable")
    with page.expect_response("**/api/v1/recommendations"):
        page.click("#new-list")
    expect(page.locator("#playlist .track")).to_have_count(4)
    expect(reasons.first).to_have_text(re.compile(r"^Our audio model"))


def test_the_player_plays_skips_loops_and_records_feedback(
    page: Page, web_settings: Settings
) -> None:
    page.check("#playable")
    _upload(page)
    tracks = page.locator("#playlist .track")
    expect(tracks).to_have_count(4)  # only the analysed library can play here
    tracks.nth(0).locator(".play-track").click()
    wait_until(page, "document.getElementById('audio').currentTime > 0.3")
    expect(tracks.nth(0)).to_have_class("track playing")
    expect(page.locator("#play")).to_have_attribute("aria-label", "Pause")

    page.click("#next")
    expect(tracks.nth(1)).to_have_class("track playing")
    wait_until(page, "document.getElementById('audio').currentTime > 0.2")
    page.click("#prev")
    expect(tracks.nth(0)).to_have_class("track playing")
    page.click("#prev")  # before the first: the last
    expect(tracks.nth(3)).to_have_class("track playing")
    page.click("#next")  # after the last: loops to the start
    expect(tracks.nth(0)).to_have_class("track playing")

    page.evaluate("document.activeElement.blur()")  # on a focused button, space presses it
    page.keyboard.press("Space")  # keyboard shortcut: space pauses
    wait_until(page, "document.getElementById('audio').paused")
    page.keyboard.press("Shift+ArrowRight")  # and shift+right goes to the next track
    expect(tracks.nth(1)).to_have_class("track playing")
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('audio').paused")
    tracks.nth(2).locator(".like").click()
    expect(tracks.nth(2).locator(".like")).to_have_attribute("aria-pressed", "true")
    events = _feedback(web_settings)
    assert ("like", None) in events
    skips = [position for kind, position in events if kind == "skip"]
    assert skips and all(p is not None for p in skips) and max(skips) > 0  # with the position
    assert [kind for kind, _ in events].count("play") >= 4


def test_a_photo_without_a_face_explains_what_to_do(page: Page) -> None:
    _upload(page, NO_FACE)
    expect(page.locator(".toast.error")).to_contain_text("No face found. Face the camera")
    expect(page.locator("#result")).to_be_hidden()


def test_files_that_are_not_photos_get_the_type_message(page: Page) -> None:
    page.set_input_files(
        "#file-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hello"}]
    )
    expect(page.locator(".toast.error")).to_contain_text("not a photo")
    page.locator(".toast button.ghost").first.click()
    fake = {"name": "fake.jpg", "mimeType": "image/jpeg", "buffer": b"not really a jpeg" * 20}
    with page.expect_response("**/api/v1/mood-playlist") as answer:
        page.set_input_files("#file-input", files=[fake])
    assert answer.value.status == 415
    expect(page.locator(".toast.error")).to_contain_text("not a photo")


def test_theme_and_language_survive_a_reload(page: Page) -> None:
    page.click("#theme-toggle")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    _upload(page)
    expect(page.locator("#playlist .track")).to_have_count(10)
    _screenshot(page, "dark")

    page.click("#lang-toggle")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#mood-message")).to_contain_text("Вы выглядите счастливым")
    _screenshot(page, "ru")

    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#input-title")).to_have_text("Ваше фото")


def test_webcam_capture_with_a_fake_camera(page: Page) -> None:
    page.click("#camera-open")
    expect(page.locator("#camera-video")).to_be_visible()
    wait_until(page, "document.getElementById('camera-video').videoWidth > 0")
    with page.expect_response("**/api/v1/mood-playlist", timeout=15_000) as answer:
        page.click("#camera-shoot")  # countdown, capture, upload
    # Chromium's fake camera shows a test pattern, not a face: the whole path ran, and the
    # listener gets the no-face advice.
    assert answer.value.status == 422
    expect(page.locator(".toast.error")).to_contain_text("No face found")
    expect(page.locator("#camera")).to_be_hidden()
    expect(page.locator("#camera-open")).to_have_text("Take another photo")


def test_a_360px_phone_has_no_horizontal_scroll(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        device_scale_factor=2,
        locale="en-US",
    )
    page = context.new_page()
    page.goto(live_server)
    page.wait_for_selector("body[data-ready='true']")
    _upload(page)
    expect(page.locator("#playlist .track")).to_have_count(10)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide at a 360px viewport"
    _screenshot(page, "mobile")
    context.close()


def test_a_failed_request_offers_a_retry_and_loading_is_shown(page: Page) -> None:
    attempts: list[str] = []

    def flaky(route) -> None:  # type: ignore[no-untyped-def]
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("connectionrefused")  # the server is unreachable once
        else:
            route.continue_()

    page.route("**/api/v1/mood-playlist", flaky)
    _upload(page)
    toast = page.locator(".toast.error")
    expect(toast).to_contain_text("cannot be reached")
    page.evaluate(  # remember whether the loading line ever showed (it may be brief)
        """() => { const busy = document.getElementById('busy'); window.busySeen = false;
            new MutationObserver(() => { if (!busy.hidden) window.busySeen = true; })
                .observe(busy, {attributes: true}); }"""
    )
    toast.get_by_role("button", name="Try again").click()
    expect(page.locator("#playlist .track")).to_have_count(10)
    expect(page.locator("#busy")).to_be_hidden()
    assert page.evaluate("window.busySeen")  # a loading state was shown while it worked
    assert len(attempts) == 2


def test_every_control_has_an_accessible_name(page: Page) -> None:
    _upload(page)
    expect(page.locator("#playlist .track")).to_have_count(10)
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, input, select, a[href], [role=meter]')]
            .filter((el) => el.offsetParent !== null || el.type === 'range')
            .filter((el) => !(el.getAttribute('aria-label') || el.textContent.trim()
                              || (el.labels && el.labels.length)))
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    # On a freshly loaded page (nothing focused, no click setting the starting point of
    # sequential focus), the first Tab stop is the skip link, and its focus is visible.
    page.reload()
    page.wait_for_selector("body[data-ready='true']")  # a busy machine runs app.js late
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"


def test_catalog_tracks_offer_spotify_and_a_new_photo_stops_the_music(page: Page) -> None:
    _upload(page)
    tracks = page.locator("#playlist .track")
    expect(tracks).to_have_count(10)
    tracks.nth(0).locator(".play-track").click()  # a catalog track: no audio file here
    expect(page.locator("#spotify")).to_be_visible()
    expect(page.locator("#spotify-link")).to_have_attribute(
        "href", re.compile(r"^https://open\.spotify\.com/track/")
    )
    expect(page.locator("#spotify")).to_contain_text("needs internet and a Spotify account")

    page.check("#playable")
    page.click("#new-list")
    expect(tracks).to_have_count(4)
    tracks.nth(0).locator(".play-track").click()
    wait_until(page, "document.getElementById('audio').currentTime > 0.2")
    expect(page.locator("#spotify")).to_be_hidden()
    _upload(page)  # a new photo stops the music (seed 000)
    wait_until(page, "document.getElementById('audio').paused")
    expect(page.locator("#now-title")).to_have_text("Nothing playing")


def test_a_denied_camera_is_explained(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(locale="en-US")
    # The listener says "block" in the permission prompt: the browser rejects the request.
    context.add_init_script(
        "navigator.mediaDevices.getUserMedia = () => Promise.reject("
        "new DOMException('Permission denied', 'NotAllowedError'));"
    )
    page = context.new_page()
    page.goto(live_server)
    page.wait_for_selector("body[data-ready='true']")
    page.click("#camera-open")
    expect(page.locator("#camera-note")).to_have_text(re.compile("Camera access was denied"))
    expect(page.locator("#camera")).to_be_hidden()
    context.close()


def test_likes_teach_the_page_your_taste(page: Page) -> None:
    expect(page.locator("#taste-note")).to_contain_text("Like or skip a few tracks")
    page.select_option("#personalization", "high")
    _upload(page)
    tracks = page.locator("#playlist .track")
    expect(tracks).to_have_count(10)
    for i in range(3):
        tracks.nth(i).locator(".like").click()
    expect(page.locator("#taste-note")).to_contain_text("Learned from 3 tracks you liked")
    with page.expect_request("**/api/v1/recommendations") as sent:
        page.click("#new-list")
    assert sent.value.post_data_json["personalization"] == "high"


def test_save_export_auto_advance_and_a_too_large_photo(page: Page) -> None:
    big = {"name": "huge.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8" + b"\0" * 11_000_000}
    page.set_input_files("#file-input", files=[big])
    expect(page.locator(".toast.error")).to_contain_text("too large")

    page.check("#playable")
    _upload(page)
    tracks = page.locator("#playlist .track")
    expect(tracks).to_have_count(4)
    page.fill("#playlist-name", "Library evening")
    page.click("#save")
    saved = page.locator("#library .saved").filter(has_text="Library evening")
    expect(saved).to_have_count(1)
    with page.expect_download() as download:
        saved.get_by_role("link", name="Export M3U: Library evening").click()
    assert download.value.suggested_filename.endswith(".m3u8")  # UTF-8 extended M3U
    m3u = Path(download.value.path()).read_text(encoding="utf-8")
    assert m3u.startswith("#EXTM3U") and m3u.count("/api/v1/tracks/") == 4

    tracks.nth(0).locator(".play-track").click()
    wait_until(page, "document.getElementById('audio').duration > 0")
    page.evaluate("(a => { a.currentTime = a.duration - 0.5; })(document.getElementById('audio'))")
    expect(tracks.nth(1)).to_have_class("track playing", timeout=10_000)  # ended: next one


def test_the_whole_page_in_russian_keeps_what_plays(page: Page) -> None:
    page.check("#playable")
    _upload(page)
    tracks = page.locator("#playlist .track")
    expect(tracks).to_have_count(4)
    tracks.nth(0).locator(".like").click()
    expect(page.locator("#taste-note")).to_contain_text("Learned from 1 track you liked")
    tracks.nth(1).locator(".play-track").click()
    title = tracks.nth(1).locator(".track-title").inner_text()
    expect(page.locator("#now-title")).to_have_text(title)

    page.click("#lang-toggle")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("#now-title")).to_have_text(title)  # a title is not translated
    expect(page.locator("#taste-note")).to_contain_text("Изучено по 1 понравившемуся треку")
    expect(tracks.nth(0).locator(".reasons li").first).to_have_text(
        re.compile(r"^Наша аудиомодель .+ — подходит к вашему настроению \(радость\)")
    )
    en = json.loads((REPO / "src/moodtune/web/i18n/en.json").read_text())
    ru = json.loads((REPO / "src/moodtune/web/i18n/ru.json").read_text())
    text = page.locator("body").inner_text()
    english = [v for k, v in en.items() if len(v) > 8 and ru.get(k) != v and "{" not in v]
    assert not [v for v in english if v in text]
    assert not re.search(r"\{\w+\}|\b(reason|intent|quadrant|emotion)_\w+", text)
