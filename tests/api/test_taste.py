"""Personalization levels, the taste summary, and that one listener's taste stays theirs."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from moodtune.api import create_app
from moodtune.config import Settings

MOOD = {"emotion": "happy", "strategy": "match", "n": 10, "seed": 11}


@pytest.fixture
def fresh(app_settings: Settings) -> Iterator[TestClient]:
    """A browser of its own (own cookie jar) per test."""
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as c:
        yield c


def _ids(client: TestClient, **extra: object) -> list[int]:
    body = client.post("/api/v1/recommendations", json={**MOOD, **extra}).json()
    return [t["id"] for t in body["tracks"]]


def _like_jazz(client: TestClient) -> list[int]:
    jazz = client.get("/api/v1/tracks", params={"genre": "jazz", "limit": 12}).json()["items"]
    for track in jazz:
        assert (
            client.post(
                "/api/v1/feedback", json={"track_id": track["id"], "kind": "like"}
            ).status_code
            == 201
        )
    rock = client.get("/api/v1/tracks", params={"genre": "rock", "limit": 8}).json()["items"]
    for track in rock:
        skip = {"track_id": track["id"], "kind": "skip", "position_ms": 4_000}
        assert client.post("/api/v1/feedback", json=skip).status_code == 201
    return [t["id"] for t in jazz]


def _jazz_share(client: TestClient, **extra: object) -> float:
    body = client.post("/api/v1/recommendations", json={**MOOD, **extra}).json()
    return sum("jazz" in t["genres"] for t in body["tracks"]) / len(body["tracks"])


def test_personalization_levels_change_the_playlist(fresh: TestClient) -> None:
    before = {level: _ids(fresh, personalization=level) for level in ("low", "medium", "high")}
    assert before["low"] == before["medium"] == before["high"]  # no feedback yet: mood only
    _like_jazz(fresh)

    assert _ids(fresh, personalization="low") == before["low"]  # low ignores taste
    shares = [_jazz_share(fresh, personalization=level) for level in ("low", "medium", "high")]
    # The mood keeps its share: liked music comes in where it is also heard as happy.
    assert shares[0] <= shares[1] <= shares[2] and shares[2] - shares[0] >= 0.2
    assert len(set(_ids(fresh, personalization="medium")) - set(before["low"])) >= 2
    high = fresh.post("/api/v1/recommendations", json={**MOOD, "personalization": "high"}).json()
    assert any(r["code"] == "liked_close" for t in high["tracks"] for r in t["reasons"])

    taste = fresh.get("/api/v1/listeners/me/taste").json()
    assert taste["events"] == 20 and taste["liked"] == 12 and taste["disliked"] == 8
    assert taste["top_genres"][0] == "jazz" and 0 <= taste["valence"] <= 1
    assert taste["model"] == "logistic"


def test_one_listener_cannot_use_or_read_another_ones_taste(
    fresh: TestClient, app_settings: Settings
) -> None:
    _like_jazz(fresh)
    owner = fresh.get("/api/v1/listeners/me").json()["id"]
    with TestClient(create_app(app_settings), raise_server_exceptions=False) as stranger:
        mood_only = _ids(stranger, personalization="low")
        assert _ids(stranger, personalization="high") == mood_only
        assert _ids(stranger, personalization="high", listener_id=owner) == mood_only
        taste = stranger.get("/api/v1/listeners/me/taste").json()
        assert (taste["events"], taste["liked"], taste["top_genres"]) == (0, 0, [])
        for track in stranger.get("/api/v1/tracks", params={"genre": "rock", "limit": 5}).json()[
            "items"
        ]:
            stranger.post("/api/v1/feedback", json={"track_id": track["id"], "kind": "like"})
    assert fresh.get("/api/v1/listeners/me/taste").json()["events"] == 20  # untouched


def test_bad_personalization_is_a_validation_error(fresh: TestClient) -> None:
    answer = fresh.post("/api/v1/recommendations", json={**MOOD, "personalization": "max"})
    assert answer.status_code == 422 and answer.json()["error"]["code"] == "validation_error"
