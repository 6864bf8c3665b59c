"""The mood map, a mood set or corrected by hand, playlists kept and handed to a phone
(Debian chromium + Playwright, real backend)."""

import io
import re
import tarfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import Page, Route, expect

from tests.web.conftest import REPO, SCREENSHOTS, wait_until

FACE = REPO / "tests" / "fixtures" / "astronaut.jpg"


def _photo(image: Image.Image, name: str = "photo.jpg") -> dict:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92)
    return {"name": name, "mimeType": "image/jpeg", "buffer": buffer.getvalue()}


def _shown(page: Page) -> None:
    """Wait until the page has drawn the answer it got: the response event comes before the
    page's own handler has run, and the page is busy until that handler is done."""
    expect(page.locator("body")).not_to_have_class(re.compile(r"\bbusy\b"))


def _choose(page: Page, selector: str) -> None:
    with page.expect_response("**/api/v1/recommendations") as answer:
        page.click(selector)
    assert answer.value.ok, answer.value.text()
    _shown(page)
    expect(page.locator(selector)).to_have_attribute("aria-pressed", "true")


def _drawn(page: Page, selector: str) -> tuple[float, float]:
    node = page.locator(f"#circumplex {selector}")
    return float(node.get_attribute("cx") or 0), float(node.get_attribute("cy") or 0)


def test_the_map_draws_each_mood_where_it_belongs(page: Page) -> None:
    # SVG y grows downwards: upper half is cy < 0.
    _choose(page, "#mood-picker [data-emotion=sad]")
    x, y = _drawn(page, ".map-mood")
    assert x < -30 and y > 10  # lower left: negative, calm
    _choose(page, "#mood-picker [data-emotion=happy]")
    x, y = _drawn(page, ".map-mood")
    assert x > 50 and y < -30  # upper right
    _choose(page, "#mood-picker [data-emotion=angry]")
    x, y = _drawn(page, ".map-mood")
    assert x < -30 and y < -30  # upper left
    dots = page.locator("#circumplex .map-track")
    expect(dots).to_have_count(10)
    # a matched angry mood: tracks heard as tense sit mostly on the left
    lefts = [float(dots.nth(i).get_attribute("cx") or 0) < 0 for i in range(10)]
    assert sum(lefts) >= 6
    page.check("input[value=journey]")
    with page.expect_response("**/api/v1/recommendations") as answer:
        page.click("#new-list")
    body = answer.value.json()
    _shown(page)
    points = page.locator("#circumplex .map-path").get_attribute("points") or ""
    drawn = [tuple(map(float, p.split(","))) for p in points.split()]
    expected = [(v * 100, -a * 100) for v, a in body["target"]["path"]]
    assert len(drawn) == 10 and all(
        abs(dx - ex) < 0.01 and abs(dy - ey) < 0.01
        for (dx, dy), (ex, ey) in zip(drawn, expected, strict=True)
    )
    assert drawn[0][0] < 0 < drawn[-1][0]  # from angry toward calm, positive ground


def test_a_mood_without_a_photo_then_a_feeling_then_a_point_on_the_map(page: Page) -> None:
    _choose(page, "#feeling-picker [data-feeling=tired]")
    expect(page.locator("#mood-message")).to_have_text(
        "You feel tired. Here is music that feels the same."
    )
    expect(page.locator("#photo-figure")).to_be_hidden()
    expect(page.locator("#playlist .track")).to_have_count(10)
    x, y = _drawn(page, ".map-mood")
    assert (round(x), round(y)) == (-10, 75)
    page.locator("#result").scroll_into_view_if_needed()
    box = page.locator("#circumplex").bounding_box()
    assert box
    # a click in the upper right quarter of the map: a happy, lively point
    with page.expect_response("**/api/v1/recommendations") as answer:
        page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2)
    point = answer.value.request.post_data_json["point"]
    assert point["valence"] > 0.4 and point["arousal"] > 0.4
    assert answer.value.json()["mood"]["dominant"] == "happy"
    wait_until(page, "document.querySelector('#circumplex .map-mood').cx.baseVal.value > 40")
    x, y = _drawn(page, ".map-mood")
    assert (x, y) == (point["valence"] * 100, -point["arousal"] * 100)
    # drag the mood from the upper right to the lower left: the point where it is let go
    start = (box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.2)
    with page.expect_response("**/api/v1/recommendations") as answer:
        page.mouse.move(*start)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.5, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.25, box["y"] + box["height"] * 0.75, steps=5)
        page.mouse.up()
    dropped = answer.value.request.post_data_json["point"]
    assert dropped["valence"] < -0.3 and dropped["arousal"] < -0.3
    _screenshot(page, "mood-set")


def test_correct_a_photo_offer_feelings_when_unsure_and_pick_a_face(page: Page) -> None:
    face = Image.open(FACE)
    small = Image.new("RGB", (400, 400), (128, 128, 128))
    small.paste(face.resize((160, 160)), (150, 150))  # a face under 48 px: an unsure reading
    with page.expect_response("**/api/v1/mood-playlist"):
        page.set_input_files("#file-input", files=[_photo(small)])
    expect(page.locator("#uncertain")).to_be_visible()
    _choose(page, "#feeling-offer [data-feeling=calm]")
    expect(page.locator("#mood-message")).to_contain_text("You feel calm")
    expect(page.locator("#photo-figure")).to_be_visible()  # corrected, photo still shown
    expect(page.locator("#uncertain")).to_be_hidden()

    pair = Image.new("RGB", (face.width * 2, face.height))
    pair.paste(face, (0, 0))
    pair.paste(face.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (face.width, 0))
    with page.expect_response("**/api/v1/mood-playlist"):
        page.set_input_files("#file-input", files=[_photo(pair, "group.jpg")])
    expect(page.locator(".box")).to_have_count(2)
    expect(page.locator("#face-choice")).to_be_visible()
    expect(page.locator("#face-select option")).to_have_count(3)
    with page.expect_request("**/api/v1/recommendations") as sent:
        page.select_option("#face-select", "1")
    assert set(sent.value.post_data_json["emotions"]) == {
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"
    }  # fmt: skip
    _choose(page, "#mood-picker [data-emotion=sad]")  # a correction by hand
    expect(page.locator("#mood-message")).to_contain_text("You feel sad")
    expect(page.locator(".box")).to_have_count(2)


def test_a_no_face_photo_clears_the_previous_result(page: Page) -> None:
    page.set_input_files("#file-input", str(FACE))
    expect(page.locator("#playlist .track")).to_have_count(10)
    page.set_input_files("#file-input", str(REPO / "tests" / "fixtures" / "coffee.jpg"))
    expect(page.locator(".toast.error")).to_contain_text("No face found")
    expect(page.locator("#result")).to_be_hidden()
    expect(page.locator("#new-list")).to_be_disabled()


def test_keep_rename_share_by_qr_and_delete_a_playlist(
    page: Page, browser, live_server: str
) -> None:  # type: ignore[no-untyped-def]
    _choose(page, "#mood-picker [data-emotion=happy]")
    page.fill("#playlist-name", "Sunny walk")
    page.click("#save")
    saved = page.locator("#library .saved")
    expect(saved).to_have_count(1)
    expect(saved).to_contain_text("Sunny walk")
    expect(saved).to_contain_text("10 tracks")

    page.get_by_role("button", name="Rename Sunny walk").click()
    page.locator(".rename-form input").fill("Sunny walk, Sunday")
    page.locator(".rename-form button[type=submit]").click()
    expect(saved.locator(".saved-name")).to_have_text("Sunny walk, Sunday")

    page.get_by_role("button", name="Share Sunny walk, Sunday with a phone").click()
    link = saved.locator(".share-link")
    expect(link).to_be_visible()
    url = link.inner_text()
    assert re.fullmatch(rf"{live_server}/s/[A-Za-z0-9_-]{{32}}", url)
    expect(saved.locator(".warning")).to_contain_text("a phone cannot open it")  # 127.0.0.1
    qr_src = saved.locator("img.qr").get_attribute("src") or ""
    png = page.request.get(qr_src.replace("format=svg", "format=png"))
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.body())))
    assert [d.text for d in decoded] == [url]
    _screenshot(page, "my-playlists", "#library-title")

    phone = browser.new_context(locale="ru-RU", viewport={"width": 360, "height": 740})
    other = phone.new_page()
    other.goto(url)
    other.wait_for_selector("body[data-ready='true']")
    expect(other.locator("#shared-title")).to_have_text("Sunny walk, Sunday")
    expect(other.locator("#shared-tracks .track")).to_have_count(10)
    expect(other.locator("#shared-tracks .reasons li").first).to_contain_text("радость")
    assert other.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    other.screenshot(path=str(SCREENSHOTS / "shared-phone.png"))

    page.get_by_role("button", name="Stop sharing").click()
    expect(saved.locator(".share-link")).to_have_count(0)
    other.reload()
    other.wait_for_selector("body[data-ready='true']")
    expect(other.locator("#shared-error")).to_have_text("Владелец плейлиста отозвал эту ссылку.")
    phone.close()

    page.get_by_role("button", name="Play Sunny walk, Sunday").click()
    expect(page.locator("#playlist-title")).to_have_text("Sunny walk, Sunday")
    expect(page.locator("#playlist .track")).to_have_count(10)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete Sunny walk, Sunday").click()
    expect(saved).to_have_count(0)
    expect(page.locator("#library-empty")).to_be_visible()


def test_shift_c_opens_the_camera_and_takes_the_photo(page: Page) -> None:
    page.keyboard.press("Shift+C")
    expect(page.locator("#camera-video")).to_be_visible()
    with page.expect_response("**/api/v1/mood-playlist", timeout=20_000):
        page.keyboard.press("Shift+C")


def _screenshot(page: Page, name: str, selector: str = "#result") -> None:
    """``selector`` at the top of the viewport, for the README."""
    page.locator(selector).evaluate(
        "(e) => e.scrollIntoView({block: 'start', behavior: 'instant'})"
    )
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), animations="disabled")


def test_api_docs_render_without_network(browser, live_server: str) -> None:  # type: ignore[no-untyped-def]
    """Swagger UI and ReDoc come from this server; the one foreign URL left in ReDoc (its
    "powered by" logo) is refused by the docs' CSP before any request is made."""
    context = browser.new_context()
    page = context.new_page()
    foreign: list[str] = []

    def only_this_server(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{live_server}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    shared = page.locator(".opblock-summary-path", has_text="/api/v1/shared/{token}")
    expect(shared).to_have_count(1)
    page.goto(f"{live_server}/redoc")
    expect(page.get_by_text("Rank catalog tracks for a mood").first).to_be_attached()
    assert foreign == []
    context.close()


SHARED = REPO.parent / "shared" / "data"


def _real_clip() -> dict:
    """A 30 s clip of real music (Hedgewars soundtrack, GPL-2) from ../shared/data."""
    archive = SHARED / "music_clips.tar"
    if not archive.exists():
        pytest.skip(f"{archive} not here (the shared data set)")
    with tarfile.open(archive) as tar:
        member = next(m for m in tar if m.name.endswith(".ogg"))
        data = tar.extractfile(member).read()  # type: ignore[union-attr]
    return {"name": Path(member.name).name, "mimeType": "audio/ogg", "buffer": data}


def test_analyse_a_track_shows_what_the_network_hears_and_tracks_like_it(page: Page) -> None:
    clip = _real_clip()
    with page.expect_response("**/api/v1/analyze") as answer:
        page.set_input_files("#track-input", files=[clip])
    assert answer.value.ok, answer.value.text()
    body = answer.value.json()
    result = page.locator("#track-result")
    expect(result).to_be_visible()
    expect(page.locator("#track-name")).to_have_text(clip["name"])
    expect(page.locator("#track-heard")).to_contain_text("Our audio model hears it as")
    wait_until(page, "document.getElementById('spectrogram').naturalWidth > 0")
    key = page.locator("#track-facts dd").nth(2)
    expect(key).to_have_text(re.compile(r"^[A-G]♯? (major|minor)$"))
    expect(page.locator("#like-catalog .track")).to_have_count(len(body["catalog"]))
    expect(page.locator("#like-library .track")).to_have_count(len(body["library"]))
    first = page.locator("#like-library .track").first
    expect(first.locator(".reasons li").first).to_contain_text("Sounds alike")
    first.locator(".play-track").click()
    expect(first).to_have_class("track playing")
    _screenshot(page, "analyse-track", "#analyse-title")

    page.click("#lang-toggle")
    expect(key).to_have_text(re.compile(r"^[A-G]♯? (мажор|минор)$"))
    expect(page.locator("#track-heard")).to_contain_text("Наша аудиомодель слышит")

    page.set_input_files(
        "#track-input", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"hi"}]
    )
    expect(page.locator(".toast.error")).to_contain_text("не аудио")  # 415, in Russian


def test_a_genre_typed_before_the_list_arrives_is_added_when_it_does(page: Page) -> None:
    held: list[Route] = []
    page.route("**/api/v1/genres", lambda route: held.append(route))  # held until released
    page.reload()
    page.wait_for_selector("body[data-ready='true']")
    wait_until(page, "document.getElementById('genre-list').children.length === 0")
    search = page.locator("#genre-search")
    search.fill("jazz")
    search.press("Enter")
    expect(page.locator("#genre-note")).to_have_text("")  # not called unknown while loading
    deadline = time.monotonic() + 20
    while not held and time.monotonic() < deadline:  # handlers run while Playwright waits
        page.wait_for_function("true")
    assert held, "the page never asked for the genre list"
    held[0].continue_()
    expect(page.locator("#genre-chips .chip")).to_have_text(["jazz ×"])
    expect(search).to_have_value("")


def test_genre_picker_searches_and_shows_chips_and_explicit_shows_only_if_it_matters(
    page: Page,
) -> None:
    search = page.locator("#genre-search")
    search.fill("JAZZ")
    search.press("Enter")
    chips = page.locator("#genre-chips .chip")
    expect(chips).to_have_count(1)
    expect(chips.first).to_have_text("jazz ×")
    for name in ("rock", "pop", "ambient"):
        search.fill(name)
        search.press("Enter")
    expect(chips).to_have_count(3)
    expect(page.locator(".toast")).to_contain_text("Up to 3 genres")
    page.get_by_role("button", name="Remove rock").click()
    expect(chips).to_have_count(2)
    search.fill("no such genre")
    search.press("Enter")
    expect(page.locator("#genre-note")).to_have_text("No such genre in the catalog.")
    expect(chips).to_have_count(2)
    with page.expect_request("**/api/v1/recommendations") as sent:
        page.click("#mood-picker [data-emotion=happy]")
    assert sent.value.post_data_json["genres"] == ["jazz", "pop"]

    summary = page.request.get(page.url.rstrip("/") + "/api/v1/catalog").json()
    control = page.locator("#explicit-control")
    if summary["explicit"] == 0:
        expect(control).to_be_hidden()
    else:
        expect(control).to_be_visible()


#: WCAG 2 contrast of an element's text against the first opaque background behind it.
CONTRAST_JS = """(selectors) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length < 4 || c[3] > 0.99) return c;
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const selector of selectors) {
    for (const el of document.querySelectorAll(selector)) {
      if (el.offsetParent === null) continue;
      const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
      out.push([selector, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)]);
    }
  }
  return out;
}"""
NEW_VIEW_TEXT = [
    ".chip", ".chip[aria-pressed=true]", ".saved-name", ".saved .muted", ".warning",
    ".share-link", ".facts dt", ".facts dd", "#genre-note", "#track-heard",
    "#library .button.ghost", ".rename-form input",
]  # fmt: skip


def test_new_views_at_360px_keep_contrast_names_and_no_sideways_scroll(
    browser,  # type: ignore[no-untyped-def]
    live_server: str,
) -> None:
    for theme in ("light", "dark"):
        context = browser.new_context(
            viewport={"width": 360, "height": 740}, is_mobile=True, color_scheme=theme
        )
        page = context.new_page()
        page.goto(live_server)
        page.wait_for_selector("body[data-ready='true']")
        _choose(page, "#feeling-picker [data-feeling=bored]")
        page.click("#save")
        expect(page.locator("#library .saved")).to_have_count(1)
        page.locator("#library .saved button", has_text="Share").click()
        expect(page.locator(".share-link")).to_be_visible()
        page.locator("#genre-search").fill("polka-free nonsense")
        page.locator("#genre-search").press("Enter")
        with page.expect_response("**/api/v1/analyze"):
            page.set_input_files("#track-input", str(REPO / "demo" / "music" / "etr_0.ogg"))
        expect(page.locator("#track-result")).to_be_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"{theme}: the page is {width}px wide at 360px"
        ratios = page.evaluate(CONTRAST_JS, NEW_VIEW_TEXT)
        page.locator("#library .saved button", has_text="Rename").click()
        expect(page.locator(".rename-form input")).to_be_visible()
        ratios += page.evaluate(CONTRAST_JS, [".rename-form input"])
        low = [(s, round(r, 2)) for s, r in ratios if r < 4.5]
        assert not low, f"{theme}: below AA 4.5:1: {low}"
        missing = set(NEW_VIEW_TEXT) - {s for s, _ in ratios}
        assert not missing, missing
        unnamed = page.evaluate(
            """() => [...document.querySelectorAll('button, input, select, a[href]')]
                .filter((el) => el.offsetParent !== null)
                .filter((el) => !(el.getAttribute('aria-label') || el.textContent.trim()
                                  || (el.labels && el.labels.length)))
                .map((el) => el.outerHTML.slice(0, 80))"""
        )
        assert unnamed == []
        context.close()


@contextmanager
def _with_spotify(browser, web_settings, spotify):  # type: ignore[no-untyped-def]
    """The app with Spotify login pointed at a local fake; yields (page, app URL) after the
    listener connected Spotify from the page."""
    from tests.live import serve, serve_app
    from tests.spotify_fake import CLIENT_ID

    with serve_app(spotify.app()) as fake_url:
        settings = web_settings.model_copy(
            update={
                "spotify_client_id": CLIENT_ID,
                "spotify_accounts_url": fake_url,
                "spotify_api_url": f"{fake_url}/v1",
            }  # fmt: skip
        )
        with serve(settings) as url:
            context = browser.new_context(locale="en-US")
            page = context.new_page()
            yield page, url
            context.close()


def _connect_spotify(page: Page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready='true']")
    page.get_by_role("link", name="Connect Spotify").click()
    page.wait_for_url(f"{url}/")  # consent (the fake says yes) and back, query dropped
    page.wait_for_selector("body[data-ready='true']")


def test_connect_spotify_and_save_a_playlist_there(browser, web_settings) -> None:  # type: ignore[no-untyped-def]
    """Against the local Spotify fake (responses transcribed from Spotify's reference); a free
    account: no in-page player, catalog tracks keep Spotify's embed."""
    from tests.spotify_fake import FakeSpotify

    spotify = FakeSpotify(product="free")
    with _with_spotify(browser, web_settings, spotify) as (page, url):
        _connect_spotify(page, url)
        expect(page.locator(".toast")).to_contain_text("Spotify is connected")
        expect(page.locator("#spotify-account")).to_contain_text("Spotify: Test Listener")
        _choose(page, "#mood-picker [data-emotion=happy]")
        page.fill("#playlist-name", "For Spotify")
        page.click("#save")
        page.get_by_role("button", name="Save For Spotify to Spotify").click()
        expect(page.locator(".toast").last).to_contain_text("Saved 10 tracks to Spotify")
        [made] = spotify.playlists.values()
        assert made["name"] == "For Spotify" and len(made["uris"]) == 10
        page.locator("#playlist .track").first.locator(".play-track").click()
        expect(page.locator("#spotify")).to_be_visible()  # the embed, as without a login
        assert page.evaluate("document.body.dataset.spotifyPlayer") is None
        page.get_by_role("button", name="Log out of Spotify").click()
        expect(page.get_by_role("link", name="Connect Spotify")).to_be_visible()


def test_premium_listeners_play_catalog_tracks_in_the_page(browser, web_settings) -> None:  # type: ignore[no-untyped-def]
    """Spotify's SDK is replaced by tests/fixtures/spotify/fake-sdk.js (served at the SDK's own
    URL, so the page's CSP is what allows it) and the Web API by the local fake."""
    from tests.spotify_fake import FakeSpotify

    spotify = FakeSpotify()
    sdk = (REPO / "tests" / "fixtures" / "spotify" / "fake-sdk.js").read_text()
    with _with_spotify(browser, web_settings, spotify) as (page, url):
        csp_errors: list[str] = []
        page.on(
            "console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None
        )
        page.route(
            "https://sdk.scdn.co/spotify-player.js",
            lambda route: route.fulfill(body=sdk, content_type="text/javascript"),
        )
        _connect_spotify(page, url)
        page.wait_for_selector("body[data-spotify-player='ready']")
        assert page.evaluate("window.fakeSpotifyPlayer.token") in spotify.access
        _choose(page, "#mood-picker [data-emotion=happy]")
        first = page.locator("#playlist .track").first
        with page.expect_response("**/api/v1/spotify/play") as answer:
            first.locator(".play-track").click()
        assert answer.value.status == 204
        [(device, uris)] = spotify.played
        assert device == "fake-device-1" and uris[0].startswith("spotify:track:")
        expect(page.locator("#spotify")).to_be_hidden()  # no embed: the full track plays
        expect(page.locator("#now-artist")).to_contain_text("playing in Spotify")
        page.click("#play")
        wait_until(page, "window.fakeSpotifyPlayer.toggles === 1")
        assert csp_errors == []
