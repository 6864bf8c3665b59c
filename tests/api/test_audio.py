"""Streaming, covers, similar tracks and playlists over an analysed library (real audio)."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from mutagen.flac import FLAC, Picture

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.library import add_library
from moodtune.config import Settings
from moodtune.storage import open_storage
from tests.api.conftest import assert_error

DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(scope="module")
def music(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("music")
    for name in ("etr_1.ogg", "supertux_1.ogg", "etr_0.ogg", "wesnoth_1.ogg"):
        shutil.copy(DEMO / name, root / name)
    t = np.arange(22050 * 4) / 22050
    sf.write(str(root / "cover.flac"), 0.2 * np.sin(2 * np.pi * 330 * t), 22050)
    audio = FLAC(str(root / "cover.flac"))
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", PNG
    audio["title"] = "With a cover"
    audio.add_picture(picture)
    audio.save()
    return root


@pytest.fixture(scope="module")
def lib_client(
    catalog_db: str, music: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    settings = Settings(
        database_url=catalog_db, data_dir=tmp_path_factory.mktemp("data"), catalog_refresh_s=0
    )
    engine = create_db_engine(catalog_db)
    report = add_library(
        music,
        session_factory=make_session_factory(engine),
        storage=open_storage(settings.storage_url),
    )
    engine.dispose()
    assert report.added == 5
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _track(client: TestClient, q: str) -> dict:  # type: ignore[type-arg]
    return client.get("/api/v1/tracks", params={"q": q}).json()["items"][0]  # type: ignore[no-any-return]


def test_audio_streams_with_ranges(lib_client: TestClient, music: Path) -> None:
    track = _track(lib_client, "credits ballad")
    assert track["audio_url"] == f"/api/v1/tracks/{track['id']}/audio"
    data = (music / "etr_1.ogg").read_bytes()
    whole = lib_client.get(track["audio_url"])
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["content-type"] == "audio/ogg"
    assert whole.headers["accept-ranges"] == "bytes"
    part = lib_client.get(track["audio_url"], headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == data[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(data)}"
    tail = lib_client.get(track["audio_url"], headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    beyond = lib_client.get(track["audio_url"], headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"


def test_catalog_tracks_have_no_audio(lib_client: TestClient) -> None:
    catalog = lib_client.get("/api/v1/tracks", params={"genre": "jazz", "limit": 1}).json()
    track = catalog["items"][0]
    assert track["audio_url"] is None and track["source"] != "library"
    body = assert_error(lib_client.get(f"/api/v1/tracks/{track['id']}/audio"), 404, "not_found")
    assert "Spotify" in body["message"]


def test_a_deleted_file_is_a_clear_404(lib_client: TestClient, music: Path) -> None:
    track = _track(lib_client, "loyalists")
    (music / "wesnoth_1.ogg").rename(music / "elsewhere.ogg")
    try:
        body = assert_error(lib_client.get(track["audio_url"]), 404, "not_found")
    finally:
        (music / "elsewhere.ogg").rename(music / "wesnoth_1.ogg")
    assert "library add" in body["message"]


def test_embedded_cover_and_generated_placeholders(lib_client: TestClient) -> None:
    covered = _track(lib_client, "with a cover")
    response = lib_client.get(covered["cover_url"])
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == PNG
    placeholders = [
        lib_client.get(_track(lib_client, q)["cover_url"]) for q in ("credits", "loyalists")
    ]
    for answer in placeholders:
        assert answer.headers["content-type"] == "image/svg+xml"
        assert ElementTree.fromstring(answer.content).tag.endswith("svg")
    assert placeholders[0].content != placeholders[1].content
    assert_error(lib_client.get("/api/v1/tracks/99999999/cover"), 404, "not_found")


def test_similar_tracks_by_embedding(lib_client: TestClient) -> None:
    seed = _track(lib_client, "credits ballad")
    body = lib_client.get(f"/api/v1/tracks/{seed['id']}/similar", params={"n": 3}).json()
    assert body["track"]["id"] == seed["id"]
    similar = body["tracks"]
    assert len(similar) == 3 and seed["id"] not in [t["id"] for t in similar]
    scores = [t["similarity"] for t in similar]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert all(t["reasons"][0]["text"].startswith("Sounds alike") for t in similar)
    assert all(t["reasons"][0]["code"] == "sounds_alike" for t in similar)
    everything = lib_client.get(f"/api/v1/tracks/{seed['id']}/similar", params={"n": 100}).json()
    # every other analysed track but the 4 s test tone (flagged as not music), no catalog entries
    assert len(everything["tracks"]) == 3
    assert all(t["non_music"] is None for t in everything["tracks"])
    asked = lib_client.get(
        f"/api/v1/tracks/{seed['id']}/similar", params={"n": 100, "include_non_music": True}
    ).json()
    assert [t["non_music"] for t in asked["tracks"]].count("too short (4.0 s)") == 1

    catalog = lib_client.get("/api/v1/tracks", params={"genre": "rock", "limit": 1}).json()
    not_analysed = lib_client.get(f"/api/v1/tracks/{catalog['items'][0]['id']}/similar")
    assert_error(not_analysed, 409, "not_analysed")
    assert_error(
        lib_client.get(f"/api/v1/tracks/{seed['id']}/similar?n=0"), 422, "validation_error"
    )


def test_mood_playlists_over_the_analysed_library(lib_client: TestClient) -> None:
    body = {"emotion": "sad", "strategy": "calm", "n": 5, "playable_only": True, "seed": 1}
    playlist = lib_client.post("/api/v1/recommendations", json=body).json()
    assert len(playlist["tracks"]) == 4  # the fifth file, a 4 s test tone, is not music
    assert all(t["audio_url"] and t["source"] == "library" for t in playlist["tracks"])
    assert all(t["reasons"] for t in playlist["tracks"])
    assert all(t["heard_mood"]["source"] == "audio" for t in playlist["tracks"])
    assert all(t["reasons"][0]["text"].startswith("Our audio model") for t in playlist["tracks"])
    asked = lib_client.post(
        "/api/v1/recommendations", json={**body, "include_non_music": True}
    ).json()
    assert len(asked["tracks"]) == 5
    tone = next(t for t in asked["tracks"] if t["non_music"])
    assert "Flagged as not music (you asked to include it)" in [r["text"] for r in tone["reasons"]]
    mixed = lib_client.post("/api/v1/recommendations", json={**body, "playable_only": False}).json()
    assert any(t["audio_url"] is None for t in mixed["tracks"])


def test_an_uploaded_track_is_analysed_and_gets_tracks_like_it(lib_client: TestClient) -> None:
    data = (DEMO / "etr_0.ogg").read_bytes()
    answer = lib_client.post(
        "/api/v1/analyze", files={"audio": ("mine.ogg", data, "audio/ogg")}, params={"lang": "en"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["heard_mood"]["source"] == "audio" and body["heard_mood"]["quadrant"] in (
        "Q1", "Q2", "Q3", "Q4"
    )  # fmt: skip
    assert 30 < body["features"]["tempo"] < 250 and body["features"]["loudness"] < 0
    key = body["features"]["key"]
    mode = "major" if body["features"]["mode"] == 1 else "minor"
    assert body["key_name"].endswith(mode) and body["key_name"].split()[0] in (
        "C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B"
    )  # fmt: skip
    assert 0 <= key < 12 and set(body["estimators"]) >= {"tempo", "key", "valence"}
    assert 0 < body["analysed_s"] <= 60.5 and body["duration_s"] >= body["analysed_s"]
    assert list(body["style"].values()) == sorted(body["style"].values(), reverse=True)
    assert body["spectrogram"].startswith("data:image/png;base64,")
    assert len(body["catalog"]) == 5
    assert body["catalog"][0]["reasons"][0]["params"]["intent"] == "intent_like_upload"
    assert "near where our audio model hears your track" in body["catalog"][0]["reasons"][0]["text"]
    # the same file is in the analysed library: it is the nearest there, at cosine ~1
    nearest = body["library"][0]
    assert nearest["title"] and nearest["similarity"] > 0.99
    assert nearest["reasons"][0]["code"] == "sounds_alike"


@pytest.mark.parametrize(
    ("upload", "status", "code"),
    [
        (("notes.txt", b"hello, not audio", "text/plain"), 415, "unsupported_media_type"),
        (("fake.mp3", b"\x00\x01 not really an mp3" * 50, "audio/mpeg"), 400, "bad_audio"),
        (("empty.ogg", b"", "audio/ogg"), 400, "bad_audio"),
    ],
    ids=["text", "garbage", "empty"],
)
def test_uploads_that_are_not_audio(
    lib_client: TestClient, upload: tuple[str, bytes, str], status: int, code: str
) -> None:
    assert_error(lib_client.post("/api/v1/analyze", files={"audio": upload}), status, code)


def test_a_too_large_track_is_refused_before_analysis(
    catalog_db: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    settings = Settings(
        database_url=catalog_db, data_dir=tmp_path_factory.mktemp("small"), max_audio_bytes=10_000
    )
    data = (DEMO / "etr_0.ogg").read_bytes()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        answer = client.post("/api/v1/analyze", files={"audio": ("a.ogg", data, "audio/ogg")})
        assert_error(answer, 413, "too_large")
        missing = client.post("/api/v1/analyze", files={"image": ("a.ogg", b"x", "audio/ogg")})
        assert_error(missing, 422, "validation_error")


def test_catalog_summary_counts_what_the_filters_act_on(lib_client: TestClient) -> None:
    summary = lib_client.get("/api/v1/catalog").json()
    assert summary["tracks"] == lib_client.get("/api/v1/tracks").json()["total"] == 1505
    assert summary["playable"] == 5  # the analysed library files
    assert 0 <= summary["explicit"] and 0 <= summary["explicit_unknown"] <= summary["tracks"]
    explicit_rows = [
        t
        for page in range(0, 1505, 200)
        for t in lib_client.get("/api/v1/tracks", params={"limit": 200, "offset": page}).json()[
            "items"
        ]
        if t["features"].get("explicit") is True
    ]
    assert len(explicit_rows) == summary["explicit"]
