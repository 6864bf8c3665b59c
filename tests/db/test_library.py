"""``moodtune library add`` against real SQLite and PostgreSQL with real audio files."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mutagen.flac import FLAC, Picture
from mutagen.oggvorbis import OggVorbis
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.library import LibraryReport, add_library, scan
from moodtune.catalog.models import Track, TrackEmbedding
from moodtune.storage import LocalStorage

DEMO = Path(__file__).resolve().parents[2] / "demo" / "music"
SHORT_DEMO = ("etr_1.ogg", "supertux_1.ogg", "etr_0.ogg")  # 83-108 s each


def _wav(path: Path, *, rate: int, channels: int, seconds: float = 3.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * np.ones(channels), rate)
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Real tracks plus everything a real music folder throws at an importer."""
    root = tmp_path / "music"
    (root / "album").mkdir(parents=True)
    for name in SHORT_DEMO:
        shutil.copy(DEMO / name, root / "album" / name)
    _wav(root / "misc" / "stereo_44k.wav", rate=44100, channels=2)
    (root / "misc" / "not_audio.mp3").write_text("this is a text file, not an mp3\n" * 50)
    (root / "misc" / "empty.flac").write_bytes(b"")
    (root / "misc" / "notes.txt").write_text("ignored: not an audio extension")
    (root / "misc" / "loop").symlink_to(root, target_is_directory=True)
    (root / "copies").mkdir()
    shutil.copy(DEMO / SHORT_DEMO[0], root / "copies" / "same_song.ogg")
    return root


def _count(factory: sessionmaker[Session], model: type) -> int:
    with factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_add_report_and_rerun(
    library: Path, session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    report = add_library(library, session_factory=session_factory, storage=storage)
    assert (report.scanned, report.added, report.duplicates) == (7, 4, 1)
    reasons = {Path(f["path"]).name: f["reason"] for f in report.failed}
    assert set(reasons) == {"not_audio.mp3", "empty.flac"} and "empty" in reasons["empty.flac"]
    assert [s["reason"] for s in report.skipped] == ["symlink loop"]
    assert _count(session_factory, Track) == 4 and _count(session_factory, TrackEmbedding) == 4

    with session_factory() as session:
        tracks = {t.title: t for t in session.scalars(select(Track))}
    credits = tracks["Credits Ballad"]
    assert credits.artists == ["Kristian Picon"] and credits.source == "library"
    assert credits.audio_path == str(library / "album" / "etr_1.ogg")
    assert credits.audio_mime == "audio/ogg" and credits.audio_key is None
    assert credits.estimators and credits.estimators["tempo"] == "dsp-acf-v1"
    assert credits.valence is not None and credits.energy is not None
    assert tracks["stereo_44k"].duration_ms == 3000

    again = add_library(library, session_factory=session_factory, storage=storage)
    assert (again.added, again.unchanged, again.duplicates, len(again.failed)) == (0, 4, 1, 2)

    (library / "album" / "etr_0.ogg").rename(library / "etr_0_moved.ogg")
    moved = add_library(library, session_factory=session_factory, storage=storage)
    assert (moved.added, moved.moved) == (0, 1)
    with session_factory() as session:
        paths = set(session.scalars(select(Track.audio_path)))
    assert str(library / "etr_0_moved.ogg") in paths and _count(session_factory, Track) == 4


def test_copy_mode_stores_audio_and_cover(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    factory = session_factory
    song = _wav(tmp_path / "in" / "song.flac", rate=48000, channels=6)  # 5.1
    picture = Picture()
    picture.type, picture.mime, picture.data = 3, "image/png", b"\x89PNG\r\n\x1a\n fake"
    audio = FLAC(str(song))
    audio["title"] = "Six channels"
    audio.add_picture(picture)
    audio.save()
    storage = LocalStorage(tmp_path / "objects")
    report = add_library(song, session_factory=factory, storage=storage, copy=True)
    assert report.added == 1
    with factory() as session:
        track = session.scalars(select(Track)).one()
    assert track.audio_path == str(song) and track.audio_key and track.cover_key
    assert storage.read(track.audio_key) == song.read_bytes()
    assert storage.read(track.cover_key).startswith(b"\x89PNG")
    again = add_library(song, session_factory=factory, storage=storage, copy=True)
    assert (again.added, again.unchanged) == (0, 1)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_unreadable_directories_are_reported(
    tmp_path: Path, session_factory: sessionmaker[Session]
) -> None:
    _wav(tmp_path / "music" / "ok.wav", rate=22050, channels=1)
    locked = tmp_path / "music" / "locked"
    _wav(locked / "hidden.wav", rate=22050, channels=1)
    locked.chmod(0)
    try:
        report = add_library(
            tmp_path / "music",
            session_factory=session_factory,
            storage=LocalStorage(tmp_path / "objects"),
        )
    finally:
        locked.chmod(0o755)
    assert report.added == 1 and [Path(s["path"]).name for s in report.skipped] == ["locked"]


def test_a_process_pool_gives_the_same_analysis(library: Path, tmp_path: Path) -> None:
    results = []
    for workers in (1, 2):
        url = f"sqlite:///{tmp_path / f'w{workers}.db'}"
        engine = create_db_engine(url)
        migrate(engine)
        factory = make_session_factory(engine)
        report = add_library(
            library / "album", session_factory=factory, storage=LocalStorage(tmp_path / "o"),
            workers=workers,
        )  # fmt: skip
        assert report.added == 3
        with factory() as session:
            results.append(
                {t.title: (t.valence, t.tempo, t.key) for t in session.scalars(select(Track))}
            )
    assert results[0] == results[1]


def test_kill_9_then_resume_loses_nothing_and_duplicates_nothing(tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    names = [
        "etr_1.ogg",
        "supertux_1.ogg",
        "etr_0.ogg",
        "supertux_0.ogg",
        "wesnoth_1.ogg",
        "fof_muldjord_1.ogg",
    ]
    for name in names:
        shutil.copy(DEMO / name, music / name)
    env = {
        **os.environ,
        "MOODTUNE_DATA_DIR": str(tmp_path),
        "MOODTUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'lib.db'}",
    }
    command = [
        str(Path(sys.executable).parent / "moodtune"),
        "library",
        "add",
        str(music),
        "--workers",
        "1",
        "--json",
    ]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = create_engine(env["MOODTUNE_DATABASE_URL"])
    stored_at_kill = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        try:
            with engine.connect() as connection:
                stored_at_kill = int(
                    connection.scalar(select(func.count()).select_from(Track)) or 0
                )
        except Exception:  # the schema is not there yet
            stored_at_kill = 0
        if stored_at_kill >= 1:
            first.kill()  # SIGKILL: no cleanup code runs
            break
        time.sleep(0.02)
    first.wait()
    assert first.returncode == -9, "the import finished before it could be killed"
    assert 1 <= stored_at_kill < len(names)

    second = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    report = json.loads(second.stdout)
    assert report["unchanged"] >= stored_at_kill and report["added"] + report["unchanged"] == len(
        names
    )
    with engine.connect() as connection:
        hashes = list(connection.scalars(select(Track.content_hash)))
        embeddings = connection.scalar(select(func.count()).select_from(TrackEmbedding))
    assert len(hashes) == len(set(hashes)) == len(names) == embeddings
    engine.dispose()


def test_a_retagged_file_is_updated_in_place(
    session_factory: sessionmaker[Session], tmp_path: Path
) -> None:
    song = tmp_path / "music" / "song.ogg"
    song.parent.mkdir()
    shutil.copy(DEMO / "etr_1.ogg", song)
    storage = LocalStorage(tmp_path / "objects")
    assert add_library(song.parent, session_factory=session_factory, storage=storage).added == 1
    with session_factory() as session:
        first_id = session.scalars(select(Track.id)).one()

    os.utime(song, (1_000_000_000, 1_000_000_000))  # touched, same bytes
    touched = add_library(song.parent, session_factory=session_factory, storage=storage)
    assert (touched.added, touched.updated, touched.unchanged) == (0, 0, 1)

    audio = OggVorbis(str(song))
    audio["title"] = "Renamed in my tagger"
    audio.save()
    retagged = add_library(song.parent, session_factory=session_factory, storage=storage)
    assert (retagged.added, retagged.updated) == (0, 1)
    with session_factory() as session:
        track = session.scalars(select(Track)).one()
        embeddings = session.scalar(select(func.count()).select_from(TrackEmbedding))
    assert (track.id, track.title, embeddings) == (first_id, "Renamed in my tagger", 1)


def test_a_directory_that_cannot_be_listed_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same path as above for root, who can read every directory: listing it fails."""
    _wav(tmp_path / "music" / "ok.wav", rate=22050, channels=1)
    _wav(tmp_path / "music" / "locked" / "hidden.wav", rate=22050, channels=1)
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)  # os.walk lists directories with os.scandir
    report = LibraryReport(root=str(tmp_path))
    assert [p.name for p in scan(tmp_path / "music", report)] == ["ok.wav"]
    assert report.skipped == [
        {"path": str(tmp_path / "music" / "locked"), "reason": "Permission denied"}
    ]


def _children(pid: int) -> dict[int, str]:
    """Live processes whose parent is ``pid``, with their command lines (zombies excluded)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:  # gone while we looked
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found[int(stat.parent.name)] = cmdline
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize("signal_number", [9, 15], ids=["SIGKILL", "SIGTERM"])
def test_workers_exit_when_the_import_is_killed(tmp_path: Path, signal_number: int) -> None:
    music = tmp_path / "music"
    music.mkdir()
    for name in ("etr_1.ogg", "supertux_1.ogg", "etr_0.ogg", "supertux_0.ogg", "wesnoth_1.ogg"):
        shutil.copy(DEMO / name, music / name)
    env = {
        **os.environ,
        "MOODTUNE_DATA_DIR": str(tmp_path),
        "MOODTUNE_DATABASE_URL": f"sqlite:///{tmp_path / 'lib.db'}",
    }
    command = [str(Path(sys.executable).parent / "moodtune"), "library", "add", str(music),
               "--workers", "2", "--json"]  # fmt: skip
    cli = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: dict[int, str] = {}
        while len(workers) < 2:
            assert cli.poll() is None, "the import ended before its workers started"
            assert time.monotonic() < deadline, "no analysis workers within 120 s"
            workers = {p: c for p, c in _children(cli.pid).items() if "spawn_main" in c}
            time.sleep(0.05)
        everyone = _children(cli.pid)  # the workers and multiprocessing's resource tracker
        os.kill(cli.pid, signal_number)
        cli.wait()
        deadline = time.monotonic() + 10
        while (left := [p for p in everyone if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert left == [], f"left running: {[everyone[p] for p in left]}"
    finally:
        cli.kill()
        cli.wait()
