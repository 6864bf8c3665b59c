"""Spotify login (PKCE), token refresh, "Save to Spotify" and logout, against a local fake that
serves responses transcribed from Spotify's reference (tests/fixtures/spotify/README.md: not
recorded from the live service)."""

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from moodtune.api import create_app
from moodtune.config import Settings
from tests.api.conftest import assert_error
from tests.live import serve_app
from tests.spotify_fake import CLIENT_ID, FakeSpotify


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeSpotify, str]]:
    spotify = FakeSpotify()
    with serve_app(spotify.app()) as url:
        yield spotify, url


@pytest.fixture
def spotify_client(app_settings: Settings, fake: tuple[FakeSpotify, str]) -> Iterator[TestClient]:
    settings = app_settings.model_copy(
        update={
            "spotify_client_id": CLIENT_ID,
            "spotify_accounts_url": fake[1],
            "spotify_api_url": f"{fake[1]}/v1",
        }
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _login(client: TestClient) -> str:
    """The whole round trip; returns where the page is sent at the end."""
    start = client.get("/api/v1/spotify/login", follow_redirects=False)
    assert start.status_code == 307, start.text
    assert "moodtune_listener" in client.cookies  # a first visit gets its listener here
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == ["http://testserver/api/v1/spotify/callback"]
    assert "client_secret" not in authorize
    consent = httpx.get(authorize, follow_redirects=False)  # the listener says yes
    assert consent.status_code == 303
    back = urlsplit(consent.headers["location"])
    done = client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert done.status_code == 307
    return done.headers["location"]


def _playlist(client: TestClient, n: int = 3) -> dict:
    tracks = client.get("/api/v1/tracks", params={"limit": n}).json()["items"]
    body = {"name": "Sunday", "tracks": [{"track_id": t["id"]} for t in tracks]}
    return client.post("/api/v1/playlists", json=body).json()  # type: ignore[no-any-return]


def test_login_save_refresh_and_logout(
    spotify_client: TestClient, fake: tuple[FakeSpotify, str]
) -> None:
    spotify, _ = fake
    assert _login(spotify_client) == "/?spotify=connected"  # the browser's first request
    status = spotify_client.get("/api/v1/spotify").json()
    assert status == {**status, "connected": True, "display_name": "Test Listener", "premium": True}

    playlist = _playlist(spotify_client)
    saved = spotify_client.post(f"/api/v1/playlists/{playlist['id']}/spotify")
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["added"] == 3 and body["missing"] == 0
    assert body["url"] == f"https://open.spotify.com/playlist/{body['playlist_id']}"
    made = spotify.playlists[body["playlist_id"]]
    assert (
        made["name"] == "Sunday" and made["public"] is False and made["owner_id"] == "testlistener"
    )
    assert made["uris"] == [f"spotify:track:{t['track']['spotify_id']}" for t in playlist["tracks"]]

    spotify.expire_tokens()  # an hour later: refreshed once, then it works
    before = spotify.refreshed
    again = spotify_client.post(f"/api/v1/playlists/{playlist['id']}/spotify")
    assert again.status_code == 200 and spotify.refreshed == before + 1
    token = spotify_client.get("/api/v1/spotify/token").json()
    assert token["access_token"] in spotify.access

    assert spotify_client.post("/api/v1/spotify/logout").status_code == 204
    assert not spotify_client.get("/api/v1/spotify").json()["connected"]
    assert_error(
        spotify_client.post(f"/api/v1/playlists/{playlist['id']}/spotify"), 401, "login_required"
    )
    assert_error(spotify_client.get("/api/v1/spotify/token"), 401, "login_required")


def test_a_login_finishes_only_where_it_started_and_once(
    spotify_client: TestClient, fake: tuple[FakeSpotify, str]
) -> None:
    start = spotify_client.get("/api/v1/spotify/login", follow_redirects=False)
    consent = httpx.get(start.headers["location"], follow_redirects=False)
    back = urlsplit(consent.headers["location"])
    # another browser cannot finish this browser's login
    stranger = TestClient(spotify_client.app, raise_server_exceptions=False)  # no cookie
    hijack = stranger.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert hijack.headers["location"] == "/?spotify=error&reason=invalid_input", hijack.text
    done = spotify_client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert done.headers["location"] == "/?spotify=connected"  # the owner still can, once
    again = spotify_client.get(f"{back.path}?{back.query}", follow_redirects=False)
    assert again.headers["location"] == "/?spotify=error&reason=invalid_input"
    refused = spotify_client.get(
        "/api/v1/spotify/callback?error=access_denied", follow_redirects=False
    )
    assert refused.headers["location"] == "/?spotify=error&reason=access_denied"
    bogus = spotify_client.get(
        "/api/v1/spotify/callback?code=made-up&state=made-up", follow_redirects=False
    )
    assert bogus.headers["location"] == "/?spotify=error&reason=invalid_input"


def test_status_before_login(spotify_client: TestClient) -> None:
    status = spotify_client.get("/api/v1/spotify").json()
    assert status["configured"] and not status["connected"] and not status["premium"]
    assert status["redirect_uri"] == "http://testserver/api/v1/spotify/callback"


def test_spotify_is_off_unless_configured(client: TestClient) -> None:
    assert client.get("/api/v1/spotify").json()["configured"] is False
    assert_error(client.get("/api/v1/spotify/login", follow_redirects=False), 404, "not_found")
    playlist = _playlist(client, 1)
    assert_error(client.post(f"/api/v1/playlists/{playlist['id']}/spotify"), 400, "invalid_input")


def test_play_on_the_in_page_player_and_the_csp_opens_only_when_configured(
    spotify_client: TestClient, client: TestClient, fake: tuple[FakeSpotify, str]
) -> None:
    spotify, _ = fake
    assert "sdk.scdn.co" in spotify_client.get("/").headers["content-security-policy"]
    assert "sdk.scdn.co" not in client.get("/").headers["content-security-policy"]
    _login(spotify_client)
    track = client.get("/api/v1/tracks", params={"limit": 1}).json()["items"][0]
    body = {"device_id": "device-42", "track_id": track["id"]}
    assert spotify_client.post("/api/v1/spotify/play", json=body).status_code == 204
    assert spotify.played[-1] == ("device-42", [f"spotify:track:{track['spotify_id']}"])
    spotify.product = "free"  # Spotify refuses playback commands for free accounts
    refreshed = spotify.refreshed
    try:
        assert_error(spotify_client.post("/api/v1/spotify/play", json=body), 502, "source_auth")
    finally:
        spotify.product = "premium"
    assert spotify.refreshed == refreshed  # a refusal is not an expired token
    bad = {"device_id": "x y", "track_id": track["id"]}
    assert_error(spotify_client.post("/api/v1/spotify/play", json=bad), 422, "validation_error")
