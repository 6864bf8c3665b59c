"""Music servers as library sources: register one, sync its songs (analysed from the audio the
server streams), remove it.

Credentials: the server's row (name, URL, user) is in the database; its password is in
``<data dir>/sources/<name>.json``, mode 0600 in a 0700 folder, so that only the user running
moodtune can read it and a database dump or a read-only DB user never holds it. Replicas that
share a database need the same file (a mounted secret), which is also how such secrets are
usually handed to containers.

Sync is incremental and resumable: songs whose metadata digest (``remote_rev``) is unchanged
are skipped, changed ones are analysed again in place (same track id), songs gone from the
server are deleted, and each analysed song is committed on its own, so a sync cut off by the
server going down or by Ctrl-C goes on where it stopped.
"""

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from moodtune.audio.analysis import TrackAnalysis, analyse_unnamed
from moodtune.audio.embed import DEFAULT_AUDIO_MODEL, AudioModel
from moodtune.catalog import repo
from moodtune.catalog.db import session_scope
from moodtune.catalog.library import (
    ProgressCallback,
    analysis_values,
    store_analysed,
)
from moodtune.catalog.models import Playlist, PlaylistPush, Source, Track, utcnow
from moodtune.errors import InvalidInput, MoodtuneError, NotFound, SourceAuth, SourceUnavailable
from moodtune.sources.subsonic import Song, SubsonicClient

__all__ = [
    "SOURCE_KINDS",
    "PushResult",
    "SourceClients",
    "SyncReport",
    "add_source",
    "client_for",
    "get_source",
    "list_sources",
    "push_playlist",
    "remove_source",
    "sync_source",
]

log = logging.getLogger(__name__)
SOURCE_KINDS = ("subsonic",)
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
_IMAGE_SUFFIX = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
}


@dataclass
class SyncReport:
    source: str
    songs: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)
    flagged: list[dict[str, object]] = field(default_factory=list)
    audio_seconds: float = 0.0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["audio_seconds"] = round(self.audio_seconds, 1)
        doc["seconds"] = round(self.seconds, 2)
        return doc


# ---- credentials -------------------------------------------------------------------------
def _secret_path(data_dir: Path, name: str) -> Path:
    return data_dir / "sources" / f"{name}.json"


def _save_password(data_dir: Path, name: str, password: str) -> None:
    folder = data_dir / "sources"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = _secret_path(data_dir, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # never readable by others
    with os.fdopen(fd, "w") as handle:
        json.dump({"password": password}, handle)
    path.chmod(0o600)  # also when the file existed with wider rights


def _load_password(data_dir: Path, name: str) -> str:
    path = _secret_path(data_dir, name)
    try:
        return str(json.loads(path.read_text())["password"])
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"no password for source {name!r} at {path}: add the source again", source=name
        ) from exc


# ---- sources -----------------------------------------------------------------------------
def list_sources(*, session: Session) -> list[Source]:
    return list(session.scalars(select(Source).order_by(Source.name)))


def get_source(name: str, *, session: Session) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFound(f"no source named {name!r}", source=name)
    return source


def client_for(source: Source, *, data_dir: Path) -> SubsonicClient:
    return SubsonicClient(source.url, source.username, _load_password(data_dir, source.name))


def add_source(
    name: str,
    *,
    url: str,
    user: str,
    password: str,
    session_factory: sessionmaker[Session],
    data_dir: Path,
    kind: str = "subsonic",
) -> Source:
    """Check the server and the credentials, then store the source (nothing when either fails)."""
    if kind not in SOURCE_KINDS:
        raise InvalidInput(f"unknown source kind {kind!r}; known: {', '.join(SOURCE_KINDS)}")
    if not _NAME.match(name):
        raise InvalidInput(f"a source name is lower-case letters, digits, - and _; got {name!r}")
    if not url.startswith(("http://", "https://")):
        raise InvalidInput(f"the server URL must start with http:// or https://, got {url!r}")
    with SubsonicClient(url, user, password) as client:
        client.ping()  # SourceAuth / SourceUnavailable before anything is written
    with session_scope(session_factory) as session:
        if session.scalar(select(Source.id).where(Source.name == name)) is not None:
            raise InvalidInput(f"a source named {name!r} exists: remove it first", source=name)
        _save_password(data_dir, name, password)
        try:
            source = Source(name=name, kind=kind, url=url.rstrip("/"), username=user)
            session.add(source)
            session.flush()
        except Exception:
            _secret_path(data_dir, name).unlink(missing_ok=True)
            raise
        session.expunge(source)
    return source


def remove_source(name: str, *, session_factory: sessionmaker[Session], data_dir: Path) -> int:
    """Forget a source, its tracks (and their feedback and playlist entries) and its password.
    Returns how many tracks went."""
    with session_scope(session_factory) as session:
        source = get_source(name, session=session)
        removed = len(session.scalars(select(Track.id).where(Track.source_id == source.id)).all())
        session.execute(delete(Track).where(Track.source_id == source.id))
        session.delete(source)
    _secret_path(data_dir, name).unlink(missing_ok=True)
    return removed


class SourceClients:
    """One client per source for a server process (a client remembers which authentication
    its server takes), made again when the source's URL, user or password changes."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._clients: dict[int, tuple[tuple[str, str, float], SubsonicClient]] = {}
        self._lock = threading.Lock()

    def get(self, source: Source) -> SubsonicClient:
        try:
            stamp = _secret_path(self.data_dir, source.name).stat().st_mtime
        except OSError:
            stamp = 0.0
        key = (source.url, source.username, stamp)
        with self._lock:
            cached = self._clients.get(source.id)
            if cached is not None and cached[0] == key:
                return cached[1]
            client = client_for(source, data_dir=self.data_dir)
            if cached is not None:
                cached[1].close()
            self._clients[source.id] = (key, client)
            return client

    def close(self) -> None:
        with self._lock:
            for _, client in self._clients.values():
                client.close()
            self._clients.clear()


# ---- sync --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Fetched:
    song: Song
    analysis: TrackAnalysis
    cover: tuple[bytes, str] | None


def _fetch(client: SubsonicClient, song: Song, model: AudioModel) -> _Fetched:
    """Download and analyse one song (a worker thread: I/O and ONNX release the GIL)."""
    analysis = analyse_unnamed(lambda handle: client.download(song.id, handle), model)
    cover = client.cover(song.cover_id) if song.cover_id else None
    return _Fetched(song, analysis, cover)


def _store_song(
    fetched: _Fetched, source: Source, track_id: int | None, *, session: Session, storage: Any
) -> None:
    song, analysis = fetched.song, fetched.analysis
    cover_key = None
    if fetched.cover and fetched.cover[1] in _IMAGE_SUFFIX:
        data, mime = fetched.cover
        cover_key = (
            f"covers/{source.name}/{re.sub(r'[^A-Za-z0-9_-]', '_', song.id)}{_IMAGE_SUFFIX[mime]}"
        )
        storage.put(cover_key, data)
    values = {
        "source": source.kind,
        **repo.described(song.title, song.artists, song.album, song.year),
        **analysis_values(analysis),
        "audio_mime": song.content_type,
        "cover_key": cover_key,
        "source_id": source.id,
        "remote_id": song.id,
        "remote_rev": song.rev,
        "file_size": song.size,
    }
    track = session.get(Track, track_id) if track_id is not None else None
    store_analysed(track, values, analysis, song.genres, session=session)


def sync_source(
    name: str,
    *,
    session_factory: sessionmaker[Session],
    storage: Any,
    data_dir: Path,
    workers: int = 1,
    model_path: Path = DEFAULT_AUDIO_MODEL,
    on_progress: ProgressCallback | None = None,
) -> SyncReport:
    """Bring the library in line with the server (see the module docstring). Raises
    SourceUnavailable or SourceAuth when the server fails; what was stored until then stays."""
    started = time.perf_counter()
    report = SyncReport(source=name)
    with session_scope(session_factory) as session:
        source = get_source(name, session=session)
        session.expunge(source)
        known = {
            r.remote_id: (r.id, r.remote_rev)
            for r in session.execute(
                select(Track.id, Track.remote_id, Track.remote_rev).where(
                    Track.source_id == source.id
                )
            )
        }
    progress = on_progress or (lambda done, total, seconds: None)
    with client_for(source, data_dir=data_dir) as client:
        songs = list(client.songs())  # fails before anything is written
        report.songs = len(songs)
        remote = {s.id for s in songs}
        gone = [track_id for remote_id, (track_id, _) in known.items() if remote_id not in remote]
        if gone:
            with session_scope(session_factory) as session:
                session.execute(delete(Track).where(Track.id.in_(gone)))
            report.removed = len(gone)
        todo = [s for s in songs if known.get(s.id, (None, None))[1] != s.rev]
        report.unchanged = len(songs) - len(todo)
        progress(0, len(todo), 0.0)
        model = AudioModel.from_path(model_path, threads=1)
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sync") as pool:
            futures = [(s, pool.submit(_fetch, client, s, model)) for s in todo]
            try:
                for done, (song, future) in enumerate(futures, start=1):
                    _settle(song, future.result, source, known, report, session_factory, storage)
                    progress(done, len(todo), report.audio_seconds)
            except BaseException:
                for _, future in futures:
                    future.cancel()
                raise
    with session_scope(session_factory) as session:
        stored = session.get(Source, source.id)
        if stored is not None:
            stored.synced_at = utcnow()
    report.seconds = time.perf_counter() - started
    return report


def _settle(
    song: Song,
    result: Callable[[], _Fetched],
    source: Source,
    known: dict[str | None, tuple[int, str | None]],
    report: SyncReport,
    session_factory: sessionmaker[Session],
    storage: Any,
) -> None:
    """Store one analysed song in its own transaction; a bad file is reported, not fatal; a
    server that went away or refuses us stops the sync."""
    try:
        fetched = result()
    except (SourceUnavailable, SourceAuth):
        raise  # the server, not this song: stop here, the next sync goes on from here
    except MoodtuneError as exc:  # this song's audio (damaged, not audio): report, go on
        report.failed.append({"id": song.id, "title": song.title, "reason": exc.message})
        return
    track_id = known.get(song.id, (None, None))[0]
    with session_scope(session_factory) as session:
        _store_song(fetched, source, track_id, session=session, storage=storage)
    if track_id is None:
        report.added += 1
    else:
        report.updated += 1
    report.audio_seconds += fetched.analysis.duration_s
    if fetched.analysis.music.flagged:
        report.flagged.append(
            {"id": song.id, "title": song.title, "reason": fetched.analysis.music.reason}
        )


# ---- playlists ---------------------------------------------------------------------------
@dataclass(frozen=True)
class PushResult:
    source: str
    remote_id: str
    pushed: int  # songs in the server playlist
    skipped: int  # tracks that do not live on this server

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def push_playlist(
    playlist: Playlist,
    source_name: str,
    *,
    session: Session,
    client: SubsonicClient | None = None,
    data_dir: Path | None = None,
) -> PushResult:
    """Create the playlist on the server, or replace the songs of the one pushed before (one
    server playlist per moodtune playlist and server: pushing twice changes nothing). Only
    tracks that live on that server can go there; the others are counted as skipped."""
    source = get_source(source_name, session=session)
    songs = [i.track.remote_id for i in playlist.items if i.track.source_id == source.id]
    ids = [s for s in songs if s is not None]
    if not ids:
        raise InvalidInput(
            f"none of the playlist's tracks lives on {source_name!r}", source=source_name
        )
    if client is None:
        assert data_dir is not None, "give a client or the data dir holding the password"
        client = client_for(source, data_dir=data_dir)
    pushed = session.get(PlaylistPush, (playlist.id, source.id))
    known = pushed.remote_id if pushed is not None else None
    if known is not None and known not in {str(p["id"]) for p in client.playlists()}:
        known = None  # deleted on the server since: make it again
    remote_id = client.save_playlist(playlist.name, ids, known)
    if pushed is None:
        session.add(PlaylistPush(playlist_id=playlist.id, source_id=source.id, remote_id=remote_id))
    else:
        pushed.remote_id, pushed.pushed_at = remote_id, utcnow()
    session.flush()
    return PushResult(source_name, remote_id, len(ids), len(playlist.items) - len(ids))
