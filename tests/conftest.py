"""Shared fixtures: real SQLite and PostgreSQL databases, a real catalog subset, the app."""

import csv
import gzip
import itertools
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from tests.pgcluster import ClusterUnavailable, PostgresCluster, postgres_unavailable
from tests.required import unavailable
from tests.s3server import SeaweedServer

REPO = Path(__file__).resolve().parents[1]
SHARED_TRACKS = REPO.parent / "shared" / "data" / "music_full_tracks.tar"
DEMO_MUSIC = REPO / "demo" / "music"
BUNDLED_CATALOG = REPO / "src" / "moodtune" / "data" / "spotify_tracks.csv.gz"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def catalog_rows() -> list[dict[str, str]]:
    """Every row of the bundled real catalog (81,940 tracks) as CSV dicts."""
    with gzip.open(BUNDLED_CATALOG, "rt", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="session")
def small_catalog(
    tmp_path_factory: pytest.TempPathFactory, catalog_rows: list[dict[str, str]]
) -> Path:
    """A 1,500-track slice of the real catalog: every genre-labelled track of 3 genres plus
    tracks without genre, enough for filters, artist caps and strategies to matter."""
    picked = [
        r
        for r in catalog_rows
        if r["genres_all"] and set(r["genres_all"].split(";")) & {"rock", "jazz", "ambient"}
    ]
    picked = picked[:1200] + [r for r in catalog_rows if not r["genres_all"]][:300]
    path = tmp_path_factory.mktemp("catalog") / "small.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(catalog_rows[0]))
        writer.writeheader()
        writer.writerows(picked)
    return path


SPOKEN_TEXT = (
    "Good evening and welcome to the programme. Tonight we look at the history of the harbour, "
    "the ships that sailed from it and the people who built the town around it. Our first "
    "guest has spent twenty years in the archives, and she will tell us what she found there."
)


@pytest.fixture(scope="session")
def spoken_word(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real speech from Debian's espeak-ng: an English and a German voice, 20-30 s each."""
    if shutil.which("espeak-ng") is None:
        unavailable("espeak-ng", "MOODTUNE_REQUIRE_ESPEAK", "apt-get install espeak-ng first")
    folder = tmp_path_factory.mktemp("speech")
    files = []
    for voice in ("en", "de"):
        path = folder / f"talk_{voice}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), SPOKEN_TEXT], check=True)
        files.append(path)
    return files


# --- PostgreSQL: one throwaway cluster per test session (see shared notes/ci-postgres.md) ---


@pytest.fixture(scope="session")
def full_tracks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared full tracks (14 freely licensed songs), else the same recordings in
    demo/music, flat in one folder. Read-only: copy what a test changes."""
    root = tmp_path_factory.mktemp("full-tracks")
    if SHARED_TRACKS.exists():
        with tarfile.open(SHARED_TRACKS) as tar:
            for member in tar:
                if member.name.endswith(".ogg"):
                    (root / Path(member.name).name).write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
    else:
        for path in DEMO_MUSIC.glob("*.ogg"):
            shutil.copy(path, root / path.name)
    return root


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """A real S3 server (SeaweedFS) for the whole session; each test uses its own prefix."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A fresh PostgreSQL server on a free port, with fsync off, removed afterwards."""
    try:
        cluster = PostgresCluster().start()
    except ClusterUnavailable as exc:
        postgres_unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.remove()


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster) -> str:
    """A migrated database that each test's database is cloned from (CREATE DATABASE … TEMPLATE)."""
    postgres_cluster.create_database("moodtune_template")
    return "moodtune_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = create_db_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:  # fold the WAL into the file so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


DB_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def _fresh_database(kind: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A freshly migrated, empty database of ``kind``, dropped afterwards."""
    if kind == "sqlite":
        path = directory / "moodtune.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    server = request.getfixturevalue("postgres_cluster").url
    template = request.getfixturevalue("postgres_template")
    name = f"moodtune_test_{next(_db_counter)}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {template}"))
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=DB_KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every test gets its own empty, migrated database of each kind."""
    with _fresh_database(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=DB_KINDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One empty, migrated database of each kind shared by a test module."""
    with _fresh_database(request.param, request, tmp_path_factory.mktemp("db")) as url:
        yield url


@pytest.fixture
def session_factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()
