from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from moodtune.api import create_app
from moodtune.api.deps import LISTENER_COOKIE
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.models import FeedbackEvent
from moodtune.config import Settings
from tests.api.conftest import assert_error


def _track_ids(client: TestClient, n: int = 3) -> list[int]:
    return [t["id"] for t in client.get("/api/v1/tracks", params={"limit": n}).json()["items"]]


def test_feedback_issues_a_cookie_and_reaches_the_db(client: TestClient, catalog_db: str) -> None:
    track_id = _track_ids(client, 1)[0]
    liked = client.post("/api/v1/feedback", json={"track_id": track_id, "kind": "like"})
    assert liked.status_code == 201
    listener = liked.json()["listener_id"]
    assert client.cookies.get(LISTENER_COOKIE) == listener
    skipped = client.post(
        "/api/v1/feedback", json={"track_id": track_id, "kind": "skip", "position_ms": 12500}
    )
    assert skipped.json()["listener_id"] == listener and skipped.json()["position_ms"] == 12500
    engine = create_db_engine(catalog_db)
    with make_session_factory(engine)() as s:
        kinds = s.scalars(
            select(FeedbackEvent.kind)
            .where(FeedbackEvent.listener_id == listener)
            .order_by(FeedbackEvent.id)
        )
        assert list(kinds) == ["like", "skip"]
    engine.dispose()


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"track_id": 99999999, "kind": "like"}, 404, "not_found"),
        ({"track_id": 1, "kind": "love"}, 422, "validation_error"),
        ({"track_id": 1, "kind": "skip", "position_ms": -5}, 422, "validation_error"),
        ({"kind": "like"}, 422, "validation_error"),
    ],
    ids=["unknown-track", "unknown-kind", "negative-position", "no-track"],
)
def test_bad_feedback(client: TestClient, body: dict, status: int, code: str) -> None:
    assert_error(client.post("/api/v1/feedback", json=body), status, code)


def test_listener_me_is_stable_for_a_browser(client: TestClient) -> None:
    first = client.get("/api/v1/listeners/me").json()["id"]
    assert client.get("/api/v1/listeners/me").json()["id"] == first


def test_save_list_show_and_export_a_playlist(client: TestClient) -> None:
    ids = _track_ids(client)
    recs = client.post(
        "/api/v1/recommendations", json={"emotion": "happy", "n": 3, "seed": 1}
    ).json()
    items = [
        {"track_id": t["id"], "score": t["score"], "reasons": t["reasons"]} for t in recs["tracks"]
    ]
    created = client.post(
        "/api/v1/playlists",
        json={
            "name": "Sunny\nday",
            "tracks": items + [{"track_id": ids[0]}],
            "params": {"emotion": "happy"},
        },
    )
    assert created.status_code == 201
    playlist = created.json()
    assert [t["track"]["id"] for t in playlist["tracks"]] == [t["id"] for t in recs["tracks"]] + [
        ids[0]
    ]
    assert playlist["tracks"][0]["reasons"] == recs["tracks"][0]["reasons"]
    assert playlist["id"] in [p["id"] for p in client.get("/api/v1/playlists").json()]
    assert client.get(f"/api/v1/playlists/{playlist['id']}").json() == playlist

    m3u = client.get(f"/api/v1/playlists/{playlist['id']}/export", params={"format": "m3u"})
    assert m3u.headers["content-type"].startswith("audio/x-mpegurl")
    lines = m3u.text.splitlines()
    assert lines[0] == "#EXTM3U" and lines[1] == "#PLAYLIST:Sunny day"
    first = recs["tracks"][0]
    assert lines[2].startswith("#EXTINF:") and lines[2].endswith(
        f"{', '.join(first['artists'])} - {first['title']}"
    )
    assert lines[3] == f"https://open.spotify.com/track/{first['spotify_id']}"
    exported = client.get(
        f"/api/v1/playlists/{playlist['id']}/export", params={"format": "json"}
    ).json()
    assert exported["name"] == "Sunny\nday" and len(exported["tracks"]) == 4
    assert "attachment" in m3u.headers["content-disposition"]
    assert exported["tracks"][0]["reasons"][0]["text"] == first["reasons"][0]["text"]


def test_saved_reasons_are_codes_or_notes_rendered_in_the_asked_language(
    client: TestClient,
) -> None:
    ids = _track_ids(client)
    reasons = [
        {"code": "liked_close", "params": {}, "text": "ignored: rendered again"},
        "picked by hand\nfor Sunday",
    ]
    saved = client.post(
        "/api/v1/playlists",
        json={"name": "mine", "tracks": [{"track_id": ids[0], "reasons": reasons}]},
    ).json()
    english = saved["tracks"][0]["reasons"]
    assert [r["code"] for r in english] == ["liked_close", "note"]
    assert [r["text"] for r in english] == [
        "Close to tracks you liked",
        "Picked by hand\nfor Sunday",
    ]
    russian = client.get(f"/api/v1/playlists/{saved['id']}", params={"lang": "ru"}).json()
    assert russian["tracks"][0]["reasons"][0]["text"] == "Похоже на треки, которые вам понравились"
    unknown = {"name": "x", "tracks": [{"track_id": ids[0], "reasons": [{"code": "made_up"}]}]}
    assert_error(client.post("/api/v1/playlists", json=unknown), 422, "validation_error")


def test_a_listener_cannot_see_another_listeners_playlists(
    client: TestClient, other_client: TestClient
) -> None:
    created = client.post(
        "/api/v1/playlists",
        json={"name": "private", "tracks": [{"track_id": _track_ids(client, 1)[0]}]},
    ).json()
    assert other_client.get("/api/v1/playlists").json() == []
    assert_error(other_client.get(f"/api/v1/playlists/{created['id']}"), 404, "not_found")
    assert_error(other_client.get(f"/api/v1/playlists/{created['id']}/export"), 404, "not_found")
    other_client.get("/api/v1/listeners/me")  # now a known listener, still not the owner
    assert_error(other_client.get(f"/api/v1/playlists/{created['id']}"), 404, "not_found")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "x", "tracks": [{"track_id": 99999999}]}, 400, "invalid_input"),
        ({"name": "x", "tracks": []}, 422, "validation_error"),
        ({"name": "", "tracks": [{"track_id": 1}]}, 422, "validation_error"),
    ],
    ids=["unknown-track", "no-tracks", "no-name"],
)
def test_bad_playlists_are_rejected_and_not_saved(
    client: TestClient, body: dict, status: int, code: str
) -> None:
    before = len(client.get("/api/v1/playlists").json())
    assert_error(client.post("/api/v1/playlists", json=body), status, code)
    assert len(client.get("/api/v1/playlists").json()) == before


def test_export_rejects_unknown_format(client: TestClient) -> None:
    assert_error(
        client.get("/api/v1/playlists/1/export", params={"format": "pls"}), 422, "validation_error"
    )


def test_readyz_is_503_until_the_database_is_migrated(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'empty.db'}", data_dir=tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/api/v1/healthz").status_code == 200
        assert_error(c.get("/api/v1/readyz"), 503, "unavailable")
