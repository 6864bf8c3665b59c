"""Import a folder of music: scan, read tags, analyse in a process pool, store one row per file.

Resumable by construction: every analysed file is committed in its own transaction (track,
genres, embedding together), and a re-run skips files already stored: unchanged path, size and
mtime skip without reading the file; otherwise the sha256 of the content decides (a moved file
gets its new path, a copy is a duplicate). Killing the import, even with ``kill -9``, loses at
most the files being analysed at that moment and never leaves half a track.
"""

import ctypes
import hashlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from moodtune.audio.analysis import TrackAnalysis, analyse_file
from moodtune.audio.embed import DEFAULT_AUDIO_MODEL, AudioModel
from moodtune.audio.tags import AUDIO_MIME, Tags, read_tags
from moodtune.catalog import repo
from moodtune.catalog.db import session_scope
from moodtune.catalog.models import LIBRARY_SOURCE, Track, TrackEmbedding, track_genres
from moodtune.errors import InvalidInput, MoodtuneError, NotFound
from moodtune.storage import Storage

__all__ = [
    "Engine",
    "LIBRARY_SOURCE",
    "LibraryReport",
    "RemoveReport",
    "add_library",
    "analysis_values",
    "library_tracks",
    "remove_from_library",
    "rescan_library",
    "scan",
    "store_analysed",
]

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

#: (files done, files to analyse, seconds of audio analysed so far)
ProgressCallback = Callable[[int, int, float], None]
#: Where files are analysed: this machine's processes, or Ray (local or a cluster).
Engine = Literal["process", "ray"]
_IMAGE_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}


@dataclass
class LibraryReport:
    root: str
    scanned: int = 0
    added: int = 0
    updated: int = 0  # same path, new content (re-tagged, re-encoded): analysed again
    unchanged: int = 0
    moved: int = 0
    duplicates: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # unreadable dirs, loops
    #: Stored but flagged as not music (silence, noise, tones, speech, too short): never
    #: recommended unless asked for.
    flagged: list[dict[str, object]] = field(default_factory=list)
    missing: list[dict[str, object]] = field(default_factory=list)  # rescan: file is gone
    audio_seconds: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["audio_seconds"] = round(self.audio_seconds, 1)
        doc["seconds"] = round(self.seconds, 2)
        doc["x_real_time"] = round(self.audio_seconds / self.seconds, 1) if self.seconds else None
        return doc


def scan(root: Path, report: LibraryReport) -> Iterator[Path]:
    """Audio files under ``root`` in sorted order, following symlinks but never in a loop.

    Unreadable directories and symlink loops are recorded in ``report.skipped``.
    """
    if root.is_file():
        yield root.resolve()
        return
    if not root.is_dir():
        raise InvalidInput(f"{root}: no such directory", path=str(root))
    seen: set[tuple[int, int]] = set()

    def unreadable(error: OSError) -> None:
        report.skipped.append({"path": str(error.filename), "reason": error.strerror or str(error)})

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=unreadable):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in seen:
            report.skipped.append({"path": dirpath, "reason": "symlink loop"})
            dirnames.clear()
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix.lower() in AUDIO_MIME:
                yield path.absolute()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class _Job:
    path: Path
    content_hash: str
    size: int
    mtime: float
    replaces: int | None = None  # track id of this path's row when the file's content changed


@dataclass(frozen=True)
class _Done:
    job: _Job
    tags: Tags
    analysis: TrackAnalysis


_worker_model: AudioModel | None = None


def _init_worker(model_path: Path) -> None:
    global _worker_model
    _worker_model = AudioModel.from_path(model_path)


#: Seconds between a pool worker's checks that the import that started it is still alive.
PARENT_CHECK_S = 0.5


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker exit when the import process dies, even by SIGKILL, instead of living
    on as an orphan: the kernel's parent-death signal where Linux has it, and everywhere a
    thread that watches the parent pid (a dead parent makes getppid() change)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the watcher thread alone
        pass

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(PARENT_CHECK_S)
        os._exit(1)  # nothing to save: every result is written by the parent

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_pool_worker(model_path: Path, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    _init_worker(model_path)


def _analyse(job: _Job) -> _Done:
    """Runs in a worker process (or in-process with one worker)."""
    assert _worker_model is not None
    return _Done(job, read_tags(job.path), analyse_file(job.path, _worker_model))


def _plan(
    files: list[Path], report: LibraryReport, session_factory: sessionmaker[Session]
) -> list[_Job]:
    """Files that need analysis; unchanged, moved and duplicate files are settled here."""
    with session_scope(session_factory) as session:
        known = {
            row.audio_path: row
            for row in session.execute(
                select(Track.id, Track.audio_path, Track.file_size, Track.file_mtime,
                       Track.content_hash).where(Track.content_hash.is_not(None))
            ).all()
        }  # fmt: skip
    jobs: list[_Job] = []
    planned: set[str] = set()
    for path in files:
        try:
            stat = path.stat()
            row = known.get(str(path))
            if row is not None and (row.file_size, row.file_mtime) == (stat.st_size, stat.st_mtime):
                report.unchanged += 1
                continue
            digest = _sha256(path)
        except OSError as exc:
            report.failed.append({"path": str(path), "reason": exc.strerror or str(exc)})
            continue
        if digest in planned:
            report.duplicates += 1
            continue
        with session_scope(session_factory) as session:
            stored = session.scalar(select(Track).where(Track.content_hash == digest))
            if stored is not None:
                report.unchanged += _settle_known_content(stored, path, stat, report)
                continue
        planned.add(digest)
        replaces = row.id if row is not None else None  # same path, new content: re-analyse
        jobs.append(_Job(path, digest, stat.st_size, stat.st_mtime, replaces))
    return jobs


def _settle_known_content(
    stored: Track, path: Path, stat: os.stat_result, report: LibraryReport
) -> int:
    """Content already stored: same file touched (1, unchanged), moved, or a duplicate (0)."""
    old = Path(stored.audio_path) if stored.audio_path else None
    if old == path or (old is not None and not old.exists()):
        if old != path:
            report.moved += 1
        stored.audio_path = str(path)
        stored.file_size, stored.file_mtime = stat.st_size, stat.st_mtime
        return int(old == path)
    report.duplicates += 1
    return 0


def _store(done: _Done, *, session: Session, storage: Storage, copy: bool) -> None:
    job, tags, analysis = done.job, done.tags, done.analysis
    digest = job.content_hash
    audio_key = None
    if copy:
        audio_key = f"audio/{digest[:2]}/{digest}{job.path.suffix.lower()}"
        storage.put(audio_key, job.path)
    cover_key = None
    if tags.cover and tags.cover_mime in _IMAGE_SUFFIX:
        cover_key = f"covers/{digest[:2]}/{digest}{_IMAGE_SUFFIX[tags.cover_mime]}"
        storage.put(cover_key, tags.cover)
    values = {
        "source": LIBRARY_SOURCE,
        **repo.described(tags.title, tags.artists, tags.album, tags.year),
        **analysis_values(analysis),
        "audio_path": str(job.path),
        "audio_key": audio_key,
        "audio_mime": AUDIO_MIME[job.path.suffix.lower()],
        "cover_key": cover_key,
        "content_hash": digest,
        "file_size": job.size,
        "file_mtime": job.mtime,
    }
    track = session.get(Track, job.replaces) if job.replaces is not None else None
    store_analysed(track, values, analysis, tags.genres, session=session)


def analysis_values(analysis: TrackAnalysis) -> dict[str, Any]:
    """The columns an audio analysis fills (features, estimators, the music check)."""
    return {
        **analysis.features,
        "estimators": analysis.estimators,
        "non_music": analysis.music.reason,
        "music_likelihood": analysis.music.likelihood,
    }


def store_analysed(
    track: Track | None,
    values: dict[str, Any],
    analysis: TrackAnalysis,
    genres: list[str],
    *,
    session: Session,
) -> Track:
    """Insert a track (``track`` None) or replace an analysed one in place, keeping its id
    (feedback and playlists point to it), with its embedding and genres."""
    if track is None:
        track = Track(**values)
        session.add(track)
    else:
        for name, value in values.items():
            setattr(track, name, value)
        session.execute(delete(TrackEmbedding).where(TrackEmbedding.track_id == track.id))
        session.execute(delete(track_genres).where(track_genres.c.track_id == track.id))
    session.flush()
    session.add(
        TrackEmbedding(
            track_id=track.id,
            model=analysis.estimators["valence"],
            vector=analysis.embedding.astype("<f4").tobytes(),
            style={k: round(v, 4) for k, v in analysis.style.items()},
            quadrant={k: round(v, 4) for k, v in analysis.quadrant.items()},
        )
    )
    ids = repo.genre_ids(genres, session=session)
    if ids:
        session.execute(
            track_genres.insert(), [{"track_id": track.id, "genre_id": i} for i in ids.values()]
        )
    return track


def _record(
    done: _Done,
    report: LibraryReport,
    session_factory: sessionmaker[Session],
    storage: Storage,
    copy: bool,
) -> None:
    try:
        with session_scope(session_factory) as session:
            _store(done, session=session, storage=storage, copy=copy)
    except IntegrityError:  # another process stored the same content meanwhile
        report.duplicates += 1
        return
    if done.job.replaces is None:
        report.added += 1
    else:
        report.updated += 1
    report.audio_seconds += done.analysis.duration_s
    music = done.analysis.music
    if music.flagged:
        report.flagged.append(
            {
                "path": str(done.job.path),
                "reason": music.reason,
                "music_likelihood": music.likelihood,
            }
        )


def add_library(
    root: Path,
    *,
    session_factory: sessionmaker[Session],
    storage: Storage,
    workers: int = 1,
    copy: bool = False,
    model_path: Path = DEFAULT_AUDIO_MODEL,
    on_progress: ProgressCallback | None = None,
    engine: Engine = "process",
    ray_address: str | None = None,
) -> LibraryReport:
    """Analyse and store every new audio file under ``root`` (see the module docstring).
    ``engine="ray"`` analyses on Ray (:mod:`moodtune.catalog.ray_engine`): a local Ray with
    ``workers`` CPUs, or the cluster at ``ray_address``."""
    started = time.perf_counter()
    report = LibraryReport(root=str(root))
    files = list(scan(root, report))
    report.scanned = len(files)
    jobs = _plan(files, report, session_factory)
    _analyse_all(jobs, report, session_factory, storage, workers, copy, model_path, on_progress,
                 engine=engine, ray_address=ray_address)  # fmt: skip
    report.seconds = time.perf_counter() - started
    return report


def _analyse_all(
    jobs: list[_Job],
    report: LibraryReport,
    session_factory: sessionmaker[Session],
    storage: Storage,
    workers: int,
    copy: bool,
    model_path: Path,
    on_progress: ProgressCallback | None,
    *,
    engine: Engine = "process",
    ray_address: str | None = None,
) -> None:
    """Analyse and store ``jobs`` one transaction each, in-process, in a pool or on Ray."""
    progress = on_progress or (lambda done, total, seconds: None)
    progress(0, len(jobs), 0.0)
    completed = 0

    def finish(job: _Job, result: Callable[[], _Done]) -> None:
        nonlocal completed
        try:
            _record(result(), report, session_factory, storage, copy)
        except MoodtuneError as exc:
            report.failed.append({"path": str(job.path), "reason": exc.message})
        except BrokenProcessPool:
            raise  # the pool itself died: not this file's fault, stop (see _run_pool)
        except Exception as exc:  # one bad file must not stop a library import
            log.exception("analysis of %s failed", job.path)
            report.failed.append({"path": str(job.path), "reason": f"unexpected error: {exc!r}"})
        completed += 1
        progress(completed, len(jobs), report.audio_seconds)

    if engine == "ray" and jobs:
        from moodtune.catalog.ray_engine import run_on_ray

        run_on_ray(jobs, model_path, finish, address=ray_address, workers=workers)
    elif workers <= 1 or len(jobs) <= 1:
        _init_worker(model_path)
        for job in jobs:
            finish(job, lambda job=job: _analyse(job))  # type: ignore[misc]
    else:
        _run_pool(jobs, workers, model_path, finish)


def library_tracks(*, session: Session, flagged_only: bool = False) -> list[Track]:
    """Every track that came from a music library (oldest first), or only the flagged ones."""
    query = select(Track).where(Track.source == LIBRARY_SOURCE)
    if flagged_only:
        query = query.where(Track.non_music.is_not(None))
    return list(session.scalars(query.order_by(Track.id)))


@dataclass
class RemoveReport:
    target: str
    removed: list[dict[str, object]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "removed": self.removed, "count": len(self.removed)}


def remove_from_library(
    target: str, *, session_factory: sessionmaker[Session], storage: Storage
) -> RemoveReport:
    """Remove library tracks by id, by file path, or every one under a folder, in one
    transaction; their likes, plays and playlist entries go with them. Files stay on disk;
    copies moodtune made in its storage (``--copy``) are deleted after the commit."""
    report = RemoveReport(target=target)
    keys: list[str] = []
    with session_scope(session_factory) as session:
        tracks = _matching(target, session=session)
        if not tracks:
            raise NotFound(f"no library track matches {target!r}", target=target)
        for track in tracks:
            report.removed.append({"id": track.id, "path": track.audio_path, "title": track.title})
            keys.extend(k for k in (track.audio_key, track.cover_key) if k)
            session.delete(track)
    for key in keys:
        try:
            storage.delete(key)
        except Exception as exc:  # the rows are gone; a stray object is only wasted space
            log.warning("could not delete %s from storage: %s", key, exc)
    return report


def _matching(target: str, *, session: Session) -> list[Track]:
    path = Path(target).expanduser().absolute()
    if target.isdigit() and not path.exists():
        track = session.get(Track, int(target))
        if track is not None and track.source != LIBRARY_SOURCE:
            raise InvalidInput(
                f"track {target} is a catalog track, not one of your library files",
                track_id=int(target),
            )
        return [track] if track is not None else []
    query = select(Track).where(Track.source == LIBRARY_SOURCE)
    if path.is_dir():
        prefix = str(path).rstrip(os.sep) + os.sep
        query = query.where(Track.audio_path.like(f"{repo.escape_like(prefix)}%", escape="\\"))
    else:
        query = query.where(Track.audio_path == str(path))
    return list(session.scalars(query.order_by(Track.id)))


def rescan_library(
    *,
    session_factory: sessionmaker[Session],
    storage: Storage,
    workers: int = 1,
    everything: bool = False,
    model_path: Path = DEFAULT_AUDIO_MODEL,
    on_progress: ProgressCallback | None = None,
) -> LibraryReport:
    """Re-analyse library files in place (same track ids): those analysed before the music
    check existed or by another audio model, files whose content changed, or every file with
    ``everything``. Files that are gone are listed in ``missing`` and kept (see
    :func:`remove_from_library`). Resumable: each file is committed on its own, and a re-run
    skips the files already current."""
    started = time.perf_counter()
    report = LibraryReport(root="library")
    current = AudioModel.from_path(model_path).name
    with session_scope(session_factory) as session:
        tracks = list(library_tracks(session=session))
    jobs: list[_Job] = []
    for track in tracks:
        report.scanned += 1
        path = Path(track.audio_path) if track.audio_path else None
        if path is None or not path.is_file():
            report.missing.append({"id": track.id, "path": track.audio_path})
            continue
        outdated = (
            track.music_likelihood is None or (track.estimators or {}).get("valence") != current
        )
        try:
            stat = path.stat()
            touched = (track.file_size, track.file_mtime) != (stat.st_size, stat.st_mtime)
            # as `add` does: an unchanged size and mtime mean unchanged content, unread
            digest = _sha256(path) if touched or not track.content_hash else track.content_hash
        except OSError as exc:
            report.failed.append({"path": str(path), "reason": exc.strerror or str(exc)})
            continue
        if not (everything or outdated or digest != track.content_hash):
            report.unchanged += 1
            continue
        jobs.append(_Job(path, digest, stat.st_size, stat.st_mtime, replaces=track.id))
    _analyse_all(jobs, report, session_factory, storage, workers, False, model_path, on_progress)
    report.seconds = time.perf_counter() - started
    return report


#: Thread pools of the numeric libraries; each worker gets one thread (as joblib does for its
#: workers): N processes x N BLAS threads on N cores run slower than one process.
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Spawned workers read their thread limits from the environment they inherit."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    for name, value in saved.items():
        os.environ[name] = value or "1"
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_pool(
    jobs: list[_Job],
    workers: int,
    model_path: Path,
    finish: Callable[[_Job, Callable[[], _Done]], None],
) -> None:
    """Keep at most 2 jobs per worker in flight, so Ctrl-C abandons little work."""
    with (
        _single_threaded_children(),
        ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),  # no inherited DB connections or threads
            initializer=_init_pool_worker,
            initargs=(model_path, os.getpid()),
        ) as pool,
    ):
        pending: dict[Future[_Done], _Job] = {}
        queue = iter(jobs)
        try:
            while True:
                while len(pending) < 2 * workers and (job := next(queue, None)) is not None:
                    pending[pool.submit(_analyse, job)] = job
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(pending.pop(future), future.result)
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise MoodtuneError(
                "an analysis worker process died (out of memory or killed); the files finished "
                "so far are stored, run the same command again to resume"
            ) from exc
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
