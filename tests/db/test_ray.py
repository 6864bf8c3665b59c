"""``moodtune library add --engine ray`` on a local Ray (``ray.init(num_cpus=2)``) with the
shared full tracks (else the same recordings in demo/music): the same analysis as in-process,
one transaction per file, resume after ``kill -9``, a clear answer when Ray cannot be reached."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.library import add_library
from moodtune.catalog.models import Track, TrackEmbedding
from moodtune.errors import InvalidInput
from moodtune.storage import LocalStorage

pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'moodtune[ray]'")

DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"


def _analysed(factory: sessionmaker[Session]) -> dict[str, tuple[object, ...]]:
    with factory() as session:
        rows = session.execute(
            select(Track.content_hash, Track.valence, Track.energy, Track.tempo, Track.key,
                   Track.loudness, TrackEmbedding.vector).join(TrackEmbedding)
        ).all()  # fmt: skip
    return {row[0]: tuple(row[1:]) for row in rows}


def test_ray_gives_the_same_analysis_in_one_transaction_per_file(
    full_tracks: Path, db_url: str, tmp_path: Path
) -> None:
    picked = tmp_path / "picked"
    picked.mkdir()
    for path in sorted(full_tracks.glob("*.ogg"))[:4]:
        (picked / path.name).symlink_to(path)
    results = []
    progress: list[tuple[int, int]] = []
    for engine in ("process", "ray"):
        progress.clear()
        url = db_url if engine == "ray" else f"sqlite:///{tmp_path / 'reference.db'}"
        db = create_db_engine(url)
        migrate(db)
        factory = make_session_factory(db)
        report = add_library(
            picked, session_factory=factory, storage=LocalStorage(tmp_path / "objects"),
            workers=2, engine=engine,  # type: ignore[arg-type]
            on_progress=lambda done, total, _: progress.append((done, total)),
        )  # fmt: skip
        assert (report.added, report.failed) == (4, [])
        results.append(_analysed(factory))
        db.dispose()
        assert progress == [(i, 4) for i in range(5)]
    assert results[0] == results[1]


def _count(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return int(session.scalar(select(func.count()).select_from(Track)) or 0)
    except Exception:  # the schema is not there yet
        return 0
    finally:
        engine.dispose()


@pytest.fixture
def process_group() -> Iterator[list[int]]:
    """Process groups to kill at the end: after a driver's ``kill -9``, Ray's dashboard and
    runtime-env agents can outlive it (ray-project/ray#52385); they stay in its group."""
    groups: list[int] = []
    yield groups
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_an_import_on_ray_killed_with_sigkill_resumes_without_loss_or_duplicates(
    full_tracks: Path, db_url: str, tmp_path: Path, process_group: list[int]
) -> None:
    env = {**os.environ, "MOODTUNE_DATA_DIR": str(tmp_path), "MOODTUNE_DATABASE_URL": db_url}
    command = [sys.executable, "-m", "moodtune", "library", "add", str(full_tracks),
               "--engine", "ray", "--workers", "2", "--json"]  # fmt: skip
    total = len(list(full_tracks.glob("*.ogg")))
    first = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    process_group.append(first.pid)
    deadline = time.monotonic() + 300
    while (stored := _count(db_url)) < 2 and first.poll() is None:
        assert time.monotonic() < deadline, "nothing was stored in 5 minutes"
        time.sleep(0.05)
    first.kill()  # SIGKILL: no cleanup code runs
    first.wait()
    assert first.returncode == -9, "the import finished before it could be killed"
    assert 2 <= stored < total

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    report = json.loads(second.stdout)
    assert report["unchanged"] >= stored and report["added"] + report["unchanged"] == total
    assert report["failed"] == [] and report["duplicates"] == 0
    engine = create_db_engine(db_url)
    with make_session_factory(engine)() as session:
        hashes = list(session.scalars(select(Track.content_hash)))
        embeddings = session.scalar(select(func.count()).select_from(TrackEmbedding))
    engine.dispose()
    assert len(hashes) == len(set(hashes)) == total == embeddings


def test_an_unreachable_cluster_is_a_clear_error(
    tmp_path: Path, db_url: str, session_factory: sessionmaker[Session]
) -> None:
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "a.ogg").symlink_to(DEMO / "etr_1.ogg")
    with pytest.raises(InvalidInput, match="cannot reach the Ray cluster"):
        add_library(
            tmp_path / "music", session_factory=session_factory,
            storage=LocalStorage(tmp_path / "o"), engine="ray", ray_address="127.0.0.1:9",
        )  # fmt: skip
    assert _count(db_url) == 0
