"""The catalog snapshot that requests rank with, mapped from disk and swapped when it changes.

A server keeps one :class:`CatalogIndex`. :meth:`CatalogIndex.current` returns one frozen
:class:`CatalogSnapshot` (version, ranking matrix with its cells, audio embeddings, taste
space), published by a single assignment, so a request never pairs one build's matrix with
another's embeddings. At most every ``refresh_s`` seconds a request compares the catalog
version (track count, newest ``updated_at``) with the snapshot's and, when it moved (a CLI
import, another replica), loads the new version in a background thread while requests keep
using the old snapshot.

Loading means mapping the version's files from the :class:`~moodtune.catalog.snapshot.
SnapshotStore` (milliseconds); only the first process to see a version builds it from SQL and
writes it for the others.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Literal

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.catalog.snapshot import (
    SnapshotError,
    SnapshotFiles,
    SnapshotStore,
    heard_model_sha256,
    read_whole,
    snapshot_key,
)
from moodtune.recommend import TrackMatrix
from moodtune.recommend.cells import ApartRows, with_cells
from moodtune.recommend.heard import HeardMoodModel, shipped_heard_model
from moodtune.recommend.similar import EmbeddingTable
from moodtune.recommend.taste import TasteSpace

__all__ = ["CatalogIndex", "CatalogSnapshot", "load_matrix", "load_snapshot"]

log = logging.getLogger(__name__)


def load_matrix(session: Session, *, heard_model: HeardMoodModel | None = None) -> TrackMatrix:
    """Build the ranking matrix from every track in the database (placed by ``heard_model``,
    the shipped one by default)."""
    return TrackMatrix.build(**repo.matrix_columns(session=session), heard_model=heard_model)


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    """Everything ranking reads, from one build of the catalog; never changed once published."""

    version: tuple[int, datetime | None]
    matrix: TrackMatrix
    embeddings: EmbeddingTable
    #: "mapped": read from a snapshot written before; "fetched": downloaded from object storage
    #: (another machine built it), then mapped; "built": built from SQL by this process
    origin: Literal["mapped", "fetched", "built"] = "built"
    key: str | None = None

    @property
    def tracks_in_db(self) -> int:
        return self.version[0]

    @cached_property
    def taste_space(self) -> TasteSpace:
        """Built on the first personalised request, not at start: most starts never need it."""
        table = self.embeddings
        with read_whole(self.matrix.ids) as ids:
            return TasteSpace.build(
                ids, self.matrix.features, (table.ids, table.vectors),
                columns=self.matrix.taste_columns(),
            )  # fmt: skip

    @cached_property
    def apart_rows(self) -> ApartRows | None:
        """The analysed tracks, searched apart in personalised requests (each listener's
        taste gets cells of them: ``ListenerTaste``)."""
        return ApartRows.of(self.matrix, self.taste_space.embedded_rows)


def _build_from_sql(session: Session) -> tuple[TrackMatrix, EmbeddingTable]:
    matrix = with_cells(load_matrix(session))
    ids, vectors = repo.embedding_matrix(session=session)
    flagged = matrix.ids[matrix.non_music]
    return matrix, EmbeddingTable(ids, vectors, hidden=np.isin(ids, flagged))


def load_snapshot(
    session: Session, store: SnapshotStore | None = None, *, keep_in_memory: bool = False
) -> CatalogSnapshot:
    """The snapshot of the catalog's current version: mapped from ``store`` when it holds a
    sound one, else built from SQL (and written to ``store`` for every other process); with
    ``keep_in_memory`` (a server), what every request reads is locked in RAM."""
    version = repo.catalog_version(session=session)
    if store is None:
        matrix, embeddings = _build_from_sql(session)
        return CatalogSnapshot(version, matrix, embeddings)
    key = snapshot_key(version, heard_model_sha256())
    heard_model = shipped_heard_model()
    origin: Literal["mapped", "fetched", "built"] = "mapped"
    files = _sound_snapshot(store, key, heard_model)
    if files is None:
        with store.building(key):
            files = _sound_snapshot(store, key, heard_model)  # written while we waited?
            if files is None and _fetched(store, key):
                files, origin = _sound_snapshot(store, key, heard_model), "fetched"
            if files is None:
                matrix, embeddings = _build_from_sql(session)
                store.write(key, version, matrix, embeddings)
                files = store.read(key, heard_model=heard_model)
                assert files is not None
                origin = "built"
    if keep_in_memory:
        _keep_in_memory(files, key)
    return CatalogSnapshot(version, files.matrix, files.embeddings, origin=origin, key=key)


def _keep_in_memory(files: SnapshotFiles, key: str) -> None:
    kept = files.keep_in_memory()
    if kept.refused is None:
        log.info("snapshot %s: %.0f MB kept in memory", key, kept.locked_bytes / 2**20)
        return
    log.warning(
        "snapshot %s: %.0f of %.0f MB kept in memory (mlock: %s); requests may wait on disk "
        "for pages the OS reclaims. Raise the locked-memory limit (ulimit -l, docker "
        "--ulimit memlock=-1) or set MOODTUNE_SNAPSHOT_LOCK=false to silence this",
        key, kept.locked_bytes / 2**20, kept.asked_bytes / 2**20, kept.refused,
    )  # fmt: skip


def _sound_snapshot(
    store: SnapshotStore, key: str, heard_model: HeardMoodModel
) -> SnapshotFiles | None:
    """The snapshot ``key`` mapped, or None when there is none or it must not be served (then
    moved aside, with a warning, to be rebuilt)."""
    try:
        return store.read(key, heard_model=heard_model)
    except SnapshotError as exc:
        log.warning("%s; rebuilding it", exc)
        store.discard(key)
        return None


def _fetched(store: SnapshotStore, key: str) -> bool:
    """Whether ``key`` came down from object storage. A bad one there is rebuilt, with a
    warning, and the rebuilt one replaces it; object storage that does not answer means
    building here, not failing to start."""
    try:
        return store.fetch(key)
    except SnapshotError as exc:
        log.warning("%s; rebuilding it", exc)
    except Exception as exc:
        log.warning("could not fetch snapshot %s from object storage (%s); building it", key, exc)
    return False


class CatalogIndex:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        *,
        refresh_s: float = 10.0,
        store: SnapshotStore | None = None,
        keep_in_memory: bool = False,
    ) -> None:
        self.session_factory = session_factory
        self.refresh_s = refresh_s
        self.store = store
        self.keep_in_memory = keep_in_memory
        self._snapshot: CatalogSnapshot | None = None
        self._checked_at = 0.0
        self._rebuilding = threading.Lock()

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        """The published snapshot as it is now, without checking for changes (None before the
        first build)."""
        return self._snapshot

    def load(self) -> CatalogSnapshot:
        """Load now (startup, or after an import in this process) and return the snapshot."""
        with self._rebuilding:
            return self._build()

    def _build(self) -> CatalogSnapshot:
        started = time.perf_counter()
        with self.session_factory() as session:
            snapshot = load_snapshot(session, self.store, keep_in_memory=self.keep_in_memory)
        previous, self._snapshot = self._snapshot, snapshot  # the one assignment that publishes
        self._checked_at = time.monotonic()
        if self.store is not None and snapshot.key is not None:
            keep = {snapshot.key} | ({previous.key} if previous and previous.key else set())
            self.store.prune(keep)
        log.info(
            "catalog index: %d of %d tracks placeable, %d with embeddings, %s in %.2f s",
            len(snapshot.matrix),
            snapshot.tracks_in_db,
            len(snapshot.embeddings),
            snapshot.origin,
            time.perf_counter() - started,
        )
        return snapshot

    def current(self) -> CatalogSnapshot:
        """The snapshot to rank with; starts a background load when the catalog has changed."""
        snapshot = self._snapshot
        if snapshot is None:
            return self.load()
        now = time.monotonic()
        if now - self._checked_at >= self.refresh_s:
            self._checked_at = now
            with self.session_factory() as session:
                version = repo.catalog_version(session=session)
            if version != snapshot.version and self._rebuilding.acquire(blocking=False):
                threading.Thread(target=self._rebuild_in_background, daemon=True).start()
        return snapshot

    def _rebuild_in_background(self) -> None:
        try:
            self._build()
        except Exception:  # keep serving the old snapshot; the next check retries
            log.exception("catalog index rebuild failed")
        finally:
            self._rebuilding.release()
