import pytest
from fastapi.testclient import TestClient

from moodtune.recommend import EMOTIONS, FEATURES
from tests.api.conftest import assert_error


def _recommend(client: TestClient, **body: object):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/recommendations", json=body)


def test_playlist_has_scored_explained_tracks(client: TestClient) -> None:
    response = _recommend(client, emotion="sad", n=10, seed=1)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"mood", "target", "seed", "tracks"}
    assert body["mood"]["dominant"] == "sad" and set(body["mood"]["emotions"]) == set(EMOTIONS)
    assert body["target"]["strategy"] == "match" and body["seed"] == 1
    tracks = body["tracks"]
    assert len(tracks) == 10 and [t["position"] for t in tracks] == list(range(1, 11))
    for track in tracks:
        assert {"id", "title", "artists", "genres", "features", "score", "reasons"} <= set(track)
        assert set(FEATURES) <= set(track["features"])
        assert 0 <= track["score"] <= 1 and 1 <= len(track["reasons"]) <= 3
    assert sum(t["features"]["valence"] for t in tracks) / 10 < 0.35


def test_same_seed_same_playlist_and_seed_is_returned(client: TestClient) -> None:
    first = _recommend(client, emotion="happy", seed=7).json()
    assert [t["id"] for t in first["tracks"]] == [
        t["id"] for t in _recommend(client, emotion="happy", seed=7).json()["tracks"]
    ]
    drawn = _recommend(client, emotion="happy").json()["seed"]
    assert [t["id"] for t in _recommend(client, emotion="happy", seed=drawn).json()["tracks"]] == [
        t["id"] for t in _recommend(client, emotion="happy", seed=drawn).json()["tracks"]
    ]


def test_probabilities_are_normalised_and_flagged(client: TestClient) -> None:
    body = _recommend(client, emotions={"sad": 3, "neutral": 1}, seed=0).json()
    assert body["mood"]["normalized"] is True
    assert body["mood"]["emotions"]["sad"] == pytest.approx(0.75)


def test_journey_returns_one_path_point_per_track_in_order(client: TestClient) -> None:
    body = _recommend(client, emotion="sad", strategy="journey", n=8, seed=2).json()
    assert body["target"]["goal"] == "uplift" and len(body["target"]["path"]) == 8 == len(
        body["tracks"]
    )
    valence = [t["features"]["valence"] for t in body["tracks"]]
    assert valence[-1] > valence[0] and "step 1 of 8" in body["tracks"][0]["reasons"][0]["text"]


def test_genre_filter_and_reason(client: TestClient) -> None:
    body = _recommend(client, emotion="happy", genres=["Jazz"], seed=3).json()
    assert body["tracks"] and all("jazz" in t["genres"] for t in body["tracks"])
    assert any(
        r["code"] == "genre" and r["params"]["genres"] == "jazz"
        for r in body["tracks"][0]["reasons"]
    )


def test_popularity_band_changes_the_playlist(client: TestClient) -> None:
    def mean_popularity(band: str) -> float:
        tracks = _recommend(client, emotion="happy", popularity=band, seed=3).json()["tracks"]
        known = [
            t["features"]["popularity"] for t in tracks if t["features"]["popularity"] is not None
        ]
        return sum(known) / len(known)

    assert mean_popularity("mainstream") > mean_popularity("low") + 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"emotion": "bored"}, "emotion"),
        ({"emotion": "sad", "emotions": {"sad": 1}}, "exactly one"),
        ({}, "exactly one"),
        ({"emotions": {"sad": -1}}, "emotions.sad"),
        ({"emotions": {"grumpy": 1}}, "emotions.grumpy"),
        ({"emotion": "sad", "n": 0}, "n"),
        ({"emotion": "sad", "n": 101}, "n"),
        ({"emotion": "sad", "genres": ["a", "b", "c", "d"]}, "genres"),
        ({"emotion": "sad", "strategy": "party"}, "strategy"),
        ({"emotion": "sad", "popularity": "viral"}, "popularity"),
        ({"emotion": "sad", "preset": "nope"}, "preset"),
        ({"emotion": "sad", "colour": "blue"}, "colour"),
    ],
    ids=[
        "unknown-emotion",
        "both",
        "neither",
        "negative",
        "unknown-key",
        "n-0",
        "n-101",
        "4-genres",
        "strategy",
        "popularity",
        "preset",
        "extra-field",
    ],
)
def test_invalid_requests_get_422_validation_error(
    client: TestClient, body: dict, field: str
) -> None:
    error = assert_error(client.post("/api/v1/recommendations", json=body), 422, "validation_error")
    assert field in error["message"] and error["details"]["errors"]


def test_malformed_json_gets_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/recommendations",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert_error(response, 422, "validation_error")


def test_unknown_genre_gets_400_with_the_known_ones(client: TestClient) -> None:
    error = assert_error(_recommend(client, emotion="sad", genres=["polka"]), 400, "invalid_input")
    assert error["details"]["unknown"] == ["polka"] and "rock" in error["details"]["known"]


def test_all_zero_probabilities_get_400(client: TestClient) -> None:
    assert_error(_recommend(client, emotions={"sad": 0}), 400, "invalid_input")


def test_tracks_carry_where_listeners_hear_them(client: TestClient) -> None:
    sad = _recommend(client, emotion="sad", n=10, seed=4).json()["tracks"]
    happy = _recommend(client, emotion="happy", n=10, seed=4).json()["tracks"]
    for track in sad + happy:
        heard = track["heard_mood"]
        assert -1 <= heard["valence"] <= 1 and -1 <= heard["arousal"] <= 1
        assert heard["quadrant"] in ("Q1", "Q2", "Q3", "Q4") and 0 < heard["probability"] <= 1
        assert heard["source"] == "features" and heard["uncertainty"] > 0
        assert track["reasons"][0]["text"].startswith("Listeners")
        assert track["non_music"] is None
    mean = lambda tracks: sum(t["heard_mood"]["valence"] for t in tracks) / len(tracks)  # noqa: E731
    assert mean(sad) < 0 < mean(happy)


@pytest.mark.parametrize("preset", ["heard", "russell", "valence_energy", "seed002"])
def test_every_preset_can_be_asked_for_by_name(client: TestClient, preset: str) -> None:
    body = _recommend(client, emotion="angry", strategy="calm", preset=preset, seed=5).json()
    assert body["target"]["preset"] == preset and len(body["tracks"]) == 10
    heard_first = body["tracks"][0]["reasons"][0]["text"].startswith("Listeners")
    assert heard_first == (preset == "heard")


def test_track_listing_splits_music_from_flagged_rows(client: TestClient) -> None:
    every = client.get("/api/v1/tracks", params={"limit": 1}).json()["total"]
    music = client.get("/api/v1/tracks", params={"flagged": False, "limit": 1}).json()["total"]
    flagged = client.get("/api/v1/tracks", params={"flagged": True, "limit": 200}).json()
    assert music + flagged["total"] == every and music > 0
    assert all(t["non_music"] for t in flagged["items"])


def test_reasons_are_codes_with_a_text_in_the_asked_language(client: TestClient) -> None:
    body = {"emotion": "sad", "n": 3, "seed": 7}
    english = client.post("/api/v1/recommendations", json=body).json()["tracks"][0]["reasons"]
    by_header = client.post(
        "/api/v1/recommendations", json=body, headers={"Accept-Language": "ru-RU,ru;q=0.9"}
    ).json()["tracks"][0]["reasons"]
    by_param = client.post(
        "/api/v1/recommendations?lang=ru", json=body, headers={"Accept-Language": "en"}
    ).json()["tracks"][0]["reasons"]
    assert english[0]["code"] == by_header[0]["code"] == by_param[0]["code"]
    assert english[0]["params"]["intent"] == "intent_match"
    assert english[0]["params"]["emotion"] == "emotion_sad"
    assert english[0]["text"].startswith("Listeners") and "sad" in english[0]["text"]
    assert by_header == by_param and by_param[0]["text"].startswith("Слушатели")
    assert_error(client.post("/api/v1/recommendations?lang=xx", json=body), 422, "validation_error")


def test_a_mood_set_by_hand_as_a_point_or_a_feeling(client: TestClient) -> None:
    point = _recommend(client, point={"valence": -0.6, "arousal": -0.3}, n=5, seed=3).json()
    assert (point["mood"]["valence"], point["mood"]["arousal"]) == (-0.6, -0.3)
    assert point["mood"]["dominant"] == "sad" and point["mood"]["feeling"] is None
    assert point["target"]["path"] == [[-0.6, -0.3]]  # match aims at the point itself
    tired = _recommend(client, feeling="tired", n=5, seed=3).json()
    assert (tired["mood"]["valence"], tired["mood"]["arousal"]) == (-0.1, -0.75)
    assert tired["mood"]["feeling"] == "tired"
    assert tired["tracks"][0]["reasons"][0]["params"]["emotion"] == "feeling_tired"
    assert "matches your tired mood" in tired["tracks"][0]["reasons"][0]["text"]
    heard = [t["heard_mood"]["arousal"] for t in tired["tracks"]]
    assert sum(heard) / len(heard) < 0  # a tired listener hears calm music
    for bad in (
        {"feeling": "sleepy"},
        {"point": {"valence": 1.5, "arousal": 0}},
        {"point": {"valence": 0.1}},
        {"feeling": "calm", "emotion": "sad"},
        {"point": None},
    ):
        assert_error(_recommend(client, **bad), 422, "validation_error")
