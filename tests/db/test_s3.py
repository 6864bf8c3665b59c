"""Object storage against a real S3 server (SeaweedFS, started by the ``s3_server`` fixture):
the storage contract, ``library add --copy`` audio and covers, presigned redirects a client
follows with Range requests, and snapshots one process publishes and another fetches."""

import os
import shutil
import socket
import uuid
from base64 import b64encode
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from mutagen.flac import Picture
from mutagen.oggvorbis import OggVorbis
from sqlalchemy import select

from moodtune.api import create_app
from moodtune.catalog.db import create_db_engine, make_session_factory
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import load_snapshot
from moodtune.catalog.models import Track
from moodtune.catalog.snapshot import REMOTE_KEEP, REMOTE_PREFIX, SnapshotStore
from moodtune.config import Settings
from moodtune.errors import NotFound
from moodtune.storage import LocalStorage, S3Storage, Storage, open_storage
from tests.processes import cli_json, moodtune_server, readyz, write_catalog
from tests.s3server import BUCKET, SeaweedServer

DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"
COVER = Path(__file__).resolve().parents[1] / "fixtures" / "coffee.jpg"


@pytest.fixture
def s3_url(s3_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """A storage URL of a prefix of its own in the test bucket; this process reaches the
    server through the same AWS variables a deployment sets."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "objects")
    return open_storage(request.getfixturevalue("s3_url"))


def test_both_storages_keep_the_same_contract(storage: Storage, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"  # over boto3's 8 MB threshold: a multipart upload on S3
    big.write_bytes(np.random.default_rng(0).bytes(9 << 20))
    storage.put("audio/ab/big.bin", big)
    storage.put("covers/x.jpg", COVER.read_bytes())
    storage.put("covers/x.jpg", b"replaced")

    assert storage.read("covers/x.jpg") == b"replaced"
    storage.download("audio/ab/big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    assert sorted(storage.keys("audio/")) == ["audio/ab/big.bin"]
    assert sorted(storage.keys("covers")) == ["covers/x.jpg"]
    assert list(storage.keys("nothing/")) == []
    assert storage.exists("covers/x.jpg") and not storage.exists("covers/y.jpg")

    storage.delete("covers/x.jpg")
    assert not storage.exists("covers/x.jpg")
    with pytest.raises(NotFound):
        storage.read("covers/x.jpg")
    with pytest.raises(NotFound):
        storage.download("covers/x.jpg", tmp_path / "none")


def test_prepare_creates_a_missing_bucket_once(s3_server: SeaweedServer, s3_url: str) -> None:
    bucket = f"fresh-{uuid.uuid4().hex[:8]}"
    store = open_storage(f"s3://{bucket}/p")
    store.prepare()
    store.prepare()  # it exists now: nothing to do
    store.put("k", b"v")
    assert bucket in {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}
    assert store.read("k") == b"v"


def _song_with_cover(folder: Path) -> Path:
    """A real demo track with a real photo embedded as its front cover (Vorbis comment)."""
    folder.mkdir(parents=True)
    song = Path(shutil.copy(DEMO / "etr_1.ogg", folder / "song.ogg"))
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/jpeg", COVER.read_bytes()
    audio = OggVorbis(str(song))
    audio["metadata_block_picture"] = [b64encode(picture.write()).decode("ascii")]
    audio.save()
    return song


def test_copied_audio_and_covers_live_in_s3_and_stream_by_presigned_redirect(
    db_url: str, s3_url: str, s3_server: SeaweedServer, tmp_path: Path
) -> None:
    song = _song_with_cover(tmp_path / "music")
    data = tmp_path / "data"
    env = {**os.environ, "MOODTUNE_DATABASE_URL": db_url, "MOODTUNE_DATA_DIR": str(data),
           "MOODTUNE_STORAGE_URL": s3_url}  # fmt: skip
    report = cli_json(env, "library", "add", str(song.parent), "--copy")
    assert report["added"] == 1

    engine = create_db_engine(db_url)
    with make_session_factory(engine)() as session:
        track = session.scalars(select(Track)).one()
    engine.dispose()
    store = open_storage(s3_url)
    assert isinstance(store, S3Storage) and track.audio_key and track.cover_key
    assert store.read(track.audio_key) == song.read_bytes()
    assert store.read(track.cover_key) == COVER.read_bytes()
    assert not (data / "objects").exists(), "nothing of it is kept on local disk"

    settings = Settings(database_url=db_url, data_dir=data, storage_url=s3_url)
    with TestClient(create_app(settings)) as client:
        page = client.get("/")
        assert s3_server.endpoint in page.headers["content-security-policy"]
        audio = client.get(f"/api/v1/tracks/{track.id}/audio", follow_redirects=False)
        assert audio.status_code == 307
        signed = audio.headers["location"]
        assert signed.startswith(s3_server.endpoint) and "Signature" in signed
        cover = client.get(f"/api/v1/tracks/{track.id}/cover")
        assert cover.status_code == 200 and cover.content == COVER.read_bytes()

    whole = song.read_bytes()
    part = httpx.get(signed, headers={"Range": "bytes=1000-1999"}, timeout=30)  # a seek
    assert part.status_code == 206 and part.content == whole[1000:2000]
    assert httpx.get(signed, timeout=30).content == whole
    forged = signed.replace("Signature=", "Signature=0")
    assert httpx.get(forged, timeout=30).status_code == 403
    assert httpx.get(signed.split("?")[0], timeout=30).status_code == 403  # unsigned

    removed = cli_json(env, "library", "remove", str(song.parent))
    assert [t["id"] for t in removed["removed"]] == [track.id]
    assert not store.exists(track.audio_key) and not store.exists(track.cover_key)


@pytest.fixture
def catalog(tmp_path: Path, catalog_rows: list[dict[str, str]]) -> Path:
    return write_catalog(tmp_path / "catalog.csv", [r for r in catalog_rows if r["valence"]][:900])


def test_a_server_on_another_machine_fetches_the_snapshot_instead_of_building_it(
    db_url: str, s3_url: str, tmp_path: Path, catalog: Path
) -> None:
    """Two machines share the database and the bucket, not a disk: each has its own
    snapshot directory."""
    common = {**os.environ, "MOODTUNE_DATABASE_URL": db_url, "MOODTUNE_STORAGE_URL": s3_url,
              "MOODTUNE_LOG_LEVEL": "INFO"}  # fmt: skip
    importer = {**common, "MOODTUNE_DATA_DIR": str(tmp_path / "machine1")}
    cli_json(importer, "catalog", "import", str(catalog))
    (key,) = [p.name for p in (tmp_path / "machine1" / "snapshots").iterdir() if p.name[0] != "."]
    remote = open_storage(s3_url)
    assert f"{REMOTE_PREFIX}/{key}/manifest.json" in set(remote.keys(REMOTE_PREFIX))

    server = {**common, "MOODTUNE_DATA_DIR": str(tmp_path / "machine2")}
    with moodtune_server(server, tmp_path / "server.log") as url:
        assert readyz(url)["snapshot"] == {"key": key, "origin": "fetched"}
        response = httpx.post(f"{url}/api/v1/recommendations", json={"emotion": "sad"})
        assert response.status_code == 200 and len(response.json()["tracks"]) > 0
    assert "built in" not in (tmp_path / "server.log").read_text()


def _stores(tmp_path: Path, s3_url: str) -> Iterator[SnapshotStore]:
    for i in range(100):
        yield SnapshotStore(tmp_path / f"machine{i}", open_storage(s3_url))


def test_a_damaged_snapshot_in_s3_is_rebuilt_and_replaced(
    db_url: str, s3_url: str, tmp_path: Path, catalog: Path
) -> None:
    machines = _stores(tmp_path, s3_url)
    engine = create_db_engine(db_url)
    factory = make_session_factory(engine)
    import_catalog(catalog, session_factory=factory)
    with factory() as session:
        first = load_snapshot(session, next(machines))
        assert first.origin == "built" and first.key is not None
        remote = open_storage(s3_url)
        damaged = f"{REMOTE_PREFIX}/{first.key}/values.npy"
        good = remote.read(damaged)
        remote.put(damaged, good[:-8] + b"\0" * 8)  # same size, wrong bytes

        rebuilt = load_snapshot(session, next(machines))
        assert (rebuilt.origin, rebuilt.key) == ("built", first.key)
        assert remote.read(damaged) == good, "the rebuilt snapshot replaced the damaged one"
        assert load_snapshot(session, next(machines)).origin == "fetched"
    engine.dispose()


def test_object_storage_keeps_the_newest_snapshots_only(
    db_url: str, s3_url: str, tmp_path: Path, catalog_rows: list[dict[str, str]]
) -> None:
    engine = create_db_engine(db_url)
    factory = make_session_factory(engine)
    remote, keys = open_storage(s3_url), []
    for version in range(REMOTE_KEEP + 2):
        rows = catalog_rows[version * 50 : (version + 1) * 50]
        import_catalog(write_catalog(tmp_path / f"{version}.csv", rows), session_factory=factory)
        with factory() as session:
            keys.append(load_snapshot(session, SnapshotStore(tmp_path / "local", remote)).key)
    engine.dispose()
    manifests = {k.split("/")[1] for k in remote.keys(REMOTE_PREFIX) if k.endswith("manifest.json")}
    assert manifests == set(keys[-REMOTE_KEEP:])
    assert {k.split("/")[1] for k in remote.keys(REMOTE_PREFIX)} == manifests, "no file left over"


def test_object_storage_that_does_not_answer_means_building_here(
    db_url: str, tmp_path: Path, catalog: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import boto3
    from botocore.config import Config

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    client = boto3.session.Session().client(
        "s3", endpoint_url=dead, aws_access_key_id="x", aws_secret_access_key="y",
        region_name="us-east-1", config=Config(connect_timeout=1, retries={"max_attempts": 1}),
    )  # fmt: skip
    engine = create_db_engine(db_url)
    factory = make_session_factory(engine)
    import_catalog(catalog, session_factory=factory)
    with factory() as session:
        store = SnapshotStore(tmp_path / "local", S3Storage(BUCKET, "p", client=client))
        snapshot = load_snapshot(session, store)
    engine.dispose()
    assert snapshot.origin == "built" and len(snapshot.matrix) > 800
    assert "could not fetch snapshot" in caplog.text and "could not upload" in caplog.text
