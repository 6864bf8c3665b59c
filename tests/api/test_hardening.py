"""Answers as documented when requests come from an attacker or an unlucky client: security
headers, numbers out of range, listeners created only by writes, unknown form fields."""

import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine
from moodtune.catalog.models import Listener
from moodtune.config import Settings
from tests.api.conftest import assert_error

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/"),
        ("GET", "/static/app.js"),
        ("GET", "/api/v1/tracks?limit=1"),
        ("GET", "/api/v1/tracks/99999999"),
        ("GET", "/api/v1/nowhere"),
        ("POST", "/api/v1/healthz"),
        ("POST", "/api/v1/emotions"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ],
)
def test_every_response_carries_the_security_headers(
    client: TestClient, method: str, path: str
) -> None:
    headers = client.request(method, path).headers
    assert {k: headers.get(k) for k in SECURITY_HEADERS} == SECURITY_HEADERS
    assert headers["permissions-policy"].startswith("camera=(self), microphone=()")
    policy = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"


def test_the_page_needs_nothing_inline(client: TestClient) -> None:
    page = client.get("/").text
    assert "<style" not in page and not re.search(r"\s(style|on[a-z]+)=", page)
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/static/app.js">']


HUGE = [2**31, 2**63, 10**30]


@pytest.mark.parametrize("number", HUGE)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tracks/{}",
        "/api/v1/tracks/{}/cover",
        "/api/v1/tracks/{}/audio",
        "/api/v1/tracks/{}/similar",
        "/api/v1/playlists/{}",
        "/api/v1/playlists/{}/export",
        "/api/v1/tracks?offset={}",
    ],
)
def test_numbers_out_of_range_in_the_url_are_refused(
    client: TestClient, path: str, number: int
) -> None:
    error = assert_error(client.get(path.format(number)), 422, "validation_error")
    assert str(2**31 - 1) in error["message"] or "less than or equal" in error["message"]


def test_a_well_formed_id_that_is_not_there_is_404(client: TestClient) -> None:
    assert_error(client.get(f"/api/v1/tracks/{2**31 - 1}"), 404, "not_found")
    assert_error(client.get(f"/api/v1/playlists/{2**31 - 1}"), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/feedback", {"track_id": 2**63, "kind": "like"}),
        ("/api/v1/feedback", {"track_id": 1, "kind": "skip", "position_ms": 2**63}),
        ("/api/v1/feedback", {"track_id": True, "kind": "like"}),
        ("/api/v1/feedback", {"track_id": 1, "kind": "skip", "position_ms": False}),
        ("/api/v1/playlists", {"name": "x", "tracks": [{"track_id": 2**63}]}),
        ("/api/v1/playlists", {"name": "x", "tracks": [{"track_id": 1, "score": True}]}),
        ("/api/v1/recommendations", {"emotion": "sad", "n": True}),
        ("/api/v1/recommendations", {"emotion": "sad", "seed": 2**63}),
        ("/api/v1/recommendations", {"emotions": {"sad": True}}),
    ],
)
def test_numbers_out_of_range_or_booleans_in_bodies_are_refused(
    client: TestClient, path: str, body: dict
) -> None:
    assert_error(client.post(path, json=body), 422, "validation_error")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_numbers_json_cannot_carry_are_refused(client: TestClient, literal: str) -> None:
    """Python's JSON reader accepts NaN and Infinity; the API must not pass them on."""
    for path, body in [
        ("/api/v1/recommendations", '{"emotions": {"sad": %s}}'),
        ("/api/v1/playlists", '{"name": "x", "tracks": [{"track_id": 1, "score": %s}]}'),
    ]:
        response = client.post(
            path, content=body % literal, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 422, "validation_error")


def _listener_rows(settings: Settings) -> int:
    engine = create_db_engine(settings.database_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(Listener))
    engine.dispose()
    return int(count or 0)


def test_reads_create_no_listener_and_the_first_write_does(app_settings: Settings) -> None:
    before = _listener_rows(app_settings)
    for _ in range(5):  # five browsers without a cookie, reading
        with TestClient(create_app(app_settings)) as browser:
            me = browser.get("/api/v1/listeners/me").json()
            assert me["created_at"] is None
            assert browser.get("/api/v1/listeners/me/taste").json()["events"] == 0
            assert browser.post("/api/v1/recommendations", json={"emotion": "sad"}).is_success
            assert browser.get("/api/v1/playlists").json() == []
            assert browser.get("/api/v1/listeners/me").json()["id"] == me["id"]
    assert _listener_rows(app_settings) == before
    with TestClient(create_app(app_settings)) as browser:
        me = browser.get("/api/v1/listeners/me").json()
        track = browser.get("/api/v1/tracks", params={"limit": 1}).json()["items"][0]
        browser.post("/api/v1/feedback", json={"track_id": track["id"], "kind": "like"})
        stored = browser.get("/api/v1/listeners/me").json()
        assert stored["id"] == me["id"] and stored["created_at"] is not None
        assert browser.get("/api/v1/listeners/me/taste").json()["events"] == 1
    assert _listener_rows(app_settings) == before + 1


def test_405_names_every_method_of_the_path(client: TestClient) -> None:
    """GET and POST /playlists are two routes; Starlette's own 405 named only one of them."""
    response = client.request("DELETE", "/api/v1/playlists")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET, HEAD, POST"


@pytest.mark.parametrize(
    "body",
    [
        {"emotion": "sad", "emotions": None},
        {"emotion": None, "emotions": {"sad": 1}},
        {"emotion": "sad", "n": "10"},
        {"emotion": "sad", "explicit": 0},
        {"emotion": "sad", "preset": "loud"},
    ],
)
def test_mood_requests_that_break_the_schema_are_refused(client: TestClient, body: dict) -> None:
    assert_error(client.post("/api/v1/recommendations", json=body), 422, "validation_error")


def test_a_body_that_is_not_json_text_is_a_validation_error(client: TestClient) -> None:
    response = client.post(
        "/api/v1/feedback", content=b"\xff\xfe\x00", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


def test_a_new_browsers_first_writes_at_once_store_one_listener(
    client: TestClient, app_settings: Settings
) -> None:
    """Found by the fuzz run: two first writes of one new cookie raced to insert the listener
    (UNIQUE constraint failed, a 500)."""
    before = _listener_rows(app_settings)
    cookie = {"Cookie": f"moodtune_listener={uuid.uuid4()}"}
    track = client.get("/api/v1/tracks", params={"limit": 1}).json()["items"][0]["id"]
    start = threading.Barrier(8)

    def like() -> int:
        start.wait()
        body = {"track_id": track, "kind": "like"}
        return client.post("/api/v1/feedback", json=body, headers=cookie).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: like(), range(8)))
    assert statuses == [201] * 8
    assert _listener_rows(app_settings) == before + 1
