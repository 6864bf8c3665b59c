"""Playlists a listener keeps: rename, delete, XSPF, and read-only share links with QR codes."""

import io
from xml.etree import ElementTree as ET

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from moodtune.api import create_app
from moodtune.config import Settings
from tests.api.conftest import assert_error

XSPF = "{http://xspf.org/ns/0/}"


def _saved(client: TestClient, name: str = "evening") -> dict:
    tracks = client.get("/api/v1/tracks", params={"limit": 3}).json()["items"]
    created = client.post(
        "/api/v1/playlists", json={"name": name, "tracks": [{"track_id": t["id"]} for t in tracks]}
    )
    assert created.status_code == 201
    return created.json()  # type: ignore[no-any-return]


def _decode_qr(image_bytes: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(image_bytes)))
    assert len(results) == 1
    return results[0].text  # type: ignore[no-any-return]


def test_rename_and_delete_a_playlist(client: TestClient, other_client: TestClient) -> None:
    playlist = _saved(client)
    url = f"/api/v1/playlists/{playlist['id']}"
    assert_error(other_client.patch(url, json={"name": "mine now"}), 404, "not_found")
    assert_error(other_client.delete(url), 404, "not_found")
    renamed = client.patch(url, json={"name": "Rainy Sunday"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Rainy Sunday"
    assert client.get(url).json()["name"] == "Rainy Sunday"
    summary = next(p for p in client.get("/api/v1/playlists").json() if p["id"] == playlist["id"])
    assert summary == {**summary, "name": "Rainy Sunday", "track_count": 3, "shared": False}
    assert_error(client.patch(url, json={"name": ""}), 422, "validation_error")
    assert_error(client.patch(url, json={"name": "x", "tracks": []}), 422, "validation_error")

    assert client.delete(url).status_code == 204
    assert_error(client.get(url), 404, "not_found")
    assert_error(client.delete(url), 404, "not_found")
    assert playlist["id"] not in [p["id"] for p in client.get("/api/v1/playlists").json()]


def test_xspf_export_lists_every_track_with_its_location(client: TestClient) -> None:
    playlist = _saved(client, "Café & co")
    answer = client.get(f"/api/v1/playlists/{playlist['id']}/export", params={"format": "xspf"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/xspf+xml")
    assert 'filename="moodtune-playlist-' in answer.headers["content-disposition"]
    root = ET.fromstring(answer.content)
    assert root.find(f"{XSPF}title").text == "Café & co"  # type: ignore[union-attr]
    entries = root.findall(f"{XSPF}trackList/{XSPF}track")
    titles = [e.find(f"{XSPF}title").text for e in entries]  # type: ignore[union-attr]
    assert titles == [t["track"]["title"] for t in playlist["tracks"]]
    assert all(e.find(f"{XSPF}location") is not None for e in entries)


def test_a_share_link_opens_read_only_for_anyone_until_revoked(
    client: TestClient, other_client: TestClient
) -> None:
    playlist = _saved(client, "for the phone")
    base = f"/api/v1/playlists/{playlist['id']}"
    assert_error(client.get(f"{base}/qr"), 409, "not_shared")
    assert_error(other_client.post(f"{base}/share"), 404, "not_found")

    share = client.post(f"{base}/share").json()
    assert client.post(f"{base}/share").json()["token"] == share["token"]  # one link
    assert len(share["token"]) >= 32 and share["url"].endswith(f"/s/{share['token']}")
    assert share["loopback"] is False  # the test client's host is "testserver"
    assert _decode_qr(client.get(f"{base}/qr", params={"format": "png"}).content) == share["url"]
    svg = client.get(f"{base}/qr")
    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content

    shared = other_client.get(f"/api/v1/shared/{share['token']}")
    assert shared.status_code == 200
    assert set(shared.json()) == {"name", "created_at", "tracks"}
    assert shared.json()["name"] == "for the phone" and len(shared.json()["tracks"]) == 3
    page = other_client.get(f"/s/{share['token']}")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]

    assert client.delete(f"{base}/share").status_code == 204
    assert_error(other_client.get(f"/api/v1/shared/{share['token']}"), 410, "revoked")
    assert client.delete(f"{base}/share").status_code == 204  # nothing left to revoke
    assert_error(client.get(f"{base}/qr"), 409, "not_shared")
    again = client.post(f"{base}/share").json()
    assert again["token"] != share["token"]
    assert other_client.get(f"/api/v1/shared/{again['token']}").status_code == 200
    assert client.delete(base).status_code == 204
    assert_error(other_client.get(f"/api/v1/shared/{again['token']}"), 404, "not_found")


@pytest.mark.parametrize("token", ["nothing-here-at-all", "short", "bad token!"])
def test_unknown_or_malformed_share_tokens(client: TestClient, token: str) -> None:
    answer = client.get(f"/api/v1/shared/{token}")
    assert answer.status_code in (404, 422)
    assert_error(
        answer, answer.status_code, "not_found" if answer.status_code == 404 else "validation_error"
    )


def test_the_public_url_setting_names_the_link_and_loopback_is_flagged(
    app_settings: Settings,
) -> None:
    public = app_settings.model_copy(update={"public_url": "https://music.example.org/"})
    with TestClient(create_app(public), raise_server_exceptions=False) as client:
        share = client.post(f"/api/v1/playlists/{_saved(client)['id']}/share").json()
    assert share["url"] == f"https://music.example.org/s/{share['token']}"
    assert share["loopback"] is False
    with TestClient(
        create_app(app_settings), base_url="http://127.0.0.1:8000", raise_server_exceptions=False
    ) as client:
        share = client.post(f"/api/v1/playlists/{_saved(client)['id']}/share").json()
    assert share["url"].startswith("http://127.0.0.1:8000/s/") and share["loopback"] is True
