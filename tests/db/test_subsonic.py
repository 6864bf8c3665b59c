"""A real Subsonic server (Supysonic) as a library source: add, sync, incremental sync, resume
after the server went down, recommend and stream through moodtune (SQLite and PostgreSQL)."""

import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.models import Source, Track
from moodtune.catalog.sources import add_source, list_sources, remove_source, sync_source
from moodtune.config import Settings
from moodtune.errors import SourceAuth, SourceUnavailable
from moodtune.storage import open_storage
from tests.subsonic import PASSWORD, USER, SupysonicServer


@pytest.fixture(scope="module")
def music(full_tracks: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the full tracks that the tests may change (the server scans it)."""
    root = tmp_path_factory.mktemp("server-music")
    for path in full_tracks.iterdir():
        shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="module")
def server(music: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupysonicServer]:
    server = SupysonicServer(tmp_path_factory.mktemp("supysonic"), music).start()
    yield server
    server.stop()


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> Iterator[dict]:
    engine = create_db_engine(db_url)
    settings = Settings(database_url=db_url, data_dir=tmp_path / "data", catalog_refresh_s=0)
    yield {
        "session_factory": make_session_factory(engine),
        "storage": open_storage(settings.storage_url),
        "data_dir": settings.data_dir,
        "settings": settings,
    }
    engine.dispose()


def _count(env: dict) -> int:
    with env["session_factory"]() as session:
        return int(session.scalar(select(func.count(Track.id)).where(Track.source_id.is_not(None))))


def _sync(env: dict, name: str = "home", **kwargs: object):  # type: ignore[no-untyped-def]
    return sync_source(
        name,
        session_factory=env["session_factory"],
        storage=env["storage"],
        data_dir=env["data_dir"],
        **kwargs,
    )


def _add(env: dict, server: SupysonicServer, name: str = "home", password: str = PASSWORD) -> None:
    add_source(
        name,
        url=server.url,
        user=USER,
        password=password,
        session_factory=env["session_factory"],
        data_dir=env["data_dir"],
    )


def test_a_wrong_password_stores_nothing(env: dict, server: SupysonicServer) -> None:
    with pytest.raises(SourceAuth):
        _add(env, server, password="wrong")
    with env["session_factory"]() as session:
        assert list_sources(session=session) == []
    assert not (env["data_dir"] / "sources" / "home.json").exists()


def test_add_sync_stream_and_sync_again_incrementally(
    env: dict, server: SupysonicServer, music: Path
) -> None:
    _add(env, server)
    secret = env["data_dir"] / "sources" / "home.json"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret.parent.stat().st_mode) == 0o700
    assert PASSWORD not in repr(list_sources(session=env["session_factory"]()))

    seen: list[tuple[int, int]] = []
    first = _sync(env, workers=2, on_progress=lambda done, total, s: seen.append((done, total)))
    assert first.songs == 14 and first.added + len(first.failed) == 14 and first.removed == 0
    assert first.failed == [] and _count(env) == 14
    assert seen[0] == (0, 14) and seen[-1] == (14, 14)
    with env["session_factory"]() as session:
        track = session.scalars(select(Track).where(Track.title == "Forest Dance")).one()
        assert track.source == "subsonic" and track.artists == ["Wansti"]
        assert track.album == "SuperTux Soundtrack" and track.year == 2006
        assert [g.name.casefold() for g in track.genres] == ["soundtrack"]
        assert track.tempo and track.valence is not None and track.remote_rev
    again = _sync(env)
    assert (again.added, again.updated, again.unchanged, again.removed) == (0, 0, 14, 0)

    with TestClient(create_app(env["settings"]), raise_server_exceptions=False) as client:
        body = {"emotion": "happy", "n": 5, "playable_only": True, "seed": 1}
        playlist = client.post("/api/v1/recommendations", json=body).json()
        assert len(playlist["tracks"]) == 5
        assert all(t["source"] == "subsonic" and t["audio_url"] for t in playlist["tracks"])
        url = playlist["tracks"][0]["audio_url"]
        whole = client.get(url)
        assert whole.status_code == 200 and whole.content[:4] == b"OggS"
        part = client.get(url, headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == whole.content[100:200]
        assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
        assert server.url not in str(part.headers) and PASSWORD not in str(part.headers)

    # incremental: one song deleted on the server, one added
    gone = music / "etr_0.ogg"
    kept = gone.read_bytes()
    gone.unlink()
    shutil.copy(music / "wesnoth_1.ogg", music / "wesnoth_copy.ogg")
    server.rescan()
    try:
        delta = _sync(env)
        assert (delta.added, delta.removed, delta.unchanged) == (1, 1, 13)
        assert _count(env) == 14
    finally:
        gone.write_bytes(kept)
        (music / "wesnoth_copy.ogg").unlink()
        server.rescan()


def test_a_sync_cut_off_by_the_server_resumes_where_it_stopped(
    env: dict, server: SupysonicServer
) -> None:
    _add(env, server, name="flaky")

    def stop_after_three(done: int, total: int, seconds: float) -> None:
        if done == 3:
            server.stop()

    try:
        with pytest.raises(SourceUnavailable):
            _sync(env, "flaky", on_progress=stop_after_three)
    finally:
        server.start()
    stored = _count(env)
    assert 3 <= stored < 14
    rest = _sync(env, "flaky")
    assert rest.added == 14 - stored and rest.unchanged == stored and _count(env) == 14

    removed = remove_source(
        "flaky", session_factory=env["session_factory"], data_dir=env["data_dir"]
    )
    assert removed == 14 and _count(env) == 0
    with env["session_factory"]() as session:
        assert session.scalar(select(func.count(Source.id))) == 0
    assert not (env["data_dir"] / "sources" / "flaky.json").exists()


def test_a_stopped_server_answers_503_and_other_tracks_keep_playing(
    env: dict, server: SupysonicServer
) -> None:
    _add(env, server, name="down")
    _sync(env, "down")
    with TestClient(create_app(env["settings"]), raise_server_exceptions=False) as client:
        tracks = client.get("/api/v1/tracks", params={"q": "Forest Dance"}).json()["items"]
        server.stop()
        try:
            answer = client.get(tracks[0]["audio_url"])
            assert answer.status_code == 503
            assert answer.json()["error"]["code"] == "source_unavailable"
            assert client.get("/api/v1/healthz").status_code == 200
        finally:
            server.start()
        assert client.get(tracks[0]["audio_url"]).status_code == 200


def test_push_a_playlist_to_the_server_idempotently(env: dict, server: SupysonicServer) -> None:
    _add(env, server, name="push")
    _sync(env, "push")
    with TestClient(create_app(env["settings"]), raise_server_exceptions=False) as client:
        songs = client.post(
            "/api/v1/recommendations",
            json={"emotion": "sad", "n": 4, "playable_only": True, "seed": 3},
        ).json()["tracks"]
        catalog = client.get("/api/v1/tracks", params={"limit": 1}).json()["items"]
        catalog = [t for t in catalog if t["source"] != "subsonic"]
        items = [{"track_id": t["id"]} for t in songs + catalog]
        name = f"Rainy day {uuid.uuid4().hex[:8]}"  # one server serves both databases' tests
        playlist = client.post("/api/v1/playlists", json={"name": name, "tracks": items}).json()
        url = f"/api/v1/playlists/{playlist['id']}/push"
        first = client.post(url, json={"source": "push"})
        assert first.status_code == 200, first.text
        pushed = first.json()
        assert pushed["pushed"] == 4 and pushed["skipped"] == len(catalog)
        again = client.post(url, json={"source": "push"}).json()
        assert again["remote_id"] == pushed["remote_id"]  # the same server playlist
        unknown = client.post(url, json={"source": "nope"})
        assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "invalid_input"

    from moodtune.sources.subsonic import SubsonicClient

    with SubsonicClient(server.url, USER, PASSWORD) as subsonic:
        named = [p for p in subsonic.playlists() if p["name"] == name]
        assert len(named) == 1
        entries = subsonic.playlist(named[0]["id"]).get("entry", [])
        assert [e["title"] for e in entries] == [t["title"] for t in songs]


def test_the_cli_adds_lists_syncs_pushes_and_removes(
    server: SupysonicServer, tmp_path: Path
) -> None:
    import json

    from typer.testing import CliRunner

    from moodtune.cli import app

    env = {
        "MOODTUNE_DATA_DIR": str(tmp_path),
        "MOODTUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SUBSONIC_PASSWORD": PASSWORD,
    }
    runner = CliRunner()

    def run(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), env=env)

    added = run("source", "add", "subsonic", "cli", "--url", server.url, "--user", USER,
                "--password-env", "SUBSONIC_PASSWORD", "--json")  # fmt: skip
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output
    wrong = run("source", "add", "subsonic", "bad", "--url", server.url, "--user", USER,
                "--password-env", "NOT_SET", "--json")  # fmt: skip
    assert wrong.exit_code == 1 and json.loads(wrong.stdout)["error"]["code"] == "invalid_input"
    listed = json.loads(run("source", "list", "--json").stdout)["sources"]
    assert [s["name"] for s in listed] == ["cli"] and listed[0]["synced_at"] is None
    synced = run("source", "sync", "cli", "--workers", "2", "--json")
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout)["added"] == 14
    assert json.loads(run("source", "list", "--json").stdout)["sources"][0]["synced_at"]
    assert run("playlist", "push", "999", "--source", "cli", "--json").exit_code == 1
    removed = json.loads(run("source", "remove", "cli", "--json").stdout)
    assert removed == {"name": "cli", "tracks_removed": 14}


def test_credentials_never_reach_the_log(
    env: dict, server: SupysonicServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    _add(env, server, name="quiet")
    _sync(env, "quiet")
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in (PASSWORD, PASSWORD.encode().hex(), "t=", "enc%3A", "enc:"):
        assert secret not in text, secret
