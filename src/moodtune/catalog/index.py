"""The in-memory snapshot of the catalog that requests rank with, rebuilt when it changes.

A server keeps one :class:`CatalogIndex`. :meth:`CatalogIndex.current` returns one frozen
:class:`CatalogSnapshot` (version, ranking matrix, audio embeddings, taste space), published by a
single assignment, so a request never pairs one build's matrix with another's embeddings. At
most every ``refresh_s`` seconds a request compares the catalog version (track count, newest
``updated_at``) with the snapshot's and, when it moved (a CLI import, another replica), rebuilds
in a background thread while requests keep using the old snapshot.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.recommend import TrackMatrix
from moodtune.recommend.heard import HeardMoodModel
from moodtune.recommend.similar import EmbeddingTable
from moodtune.recommend.taste import TasteSpace

__all__ = ["CatalogIndex", "CatalogSnapshot", "load_matrix"]

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
    taste_space: TasteSpace

    @property
    def tracks_in_db(self) -> int:
        return self.version[0]


def build_snapshot(session: Session) -> CatalogSnapshot:
    version = repo.catalog_version(session=session)
    matrix = load_matrix(session)
    ids, vectors = repo.embedding_matrix(session=session)
    space = TasteSpace.build(
        matrix.ids,
        matrix.taste_features(),
        {int(t): vectors[i] for i, t in enumerate(ids.tolist())},
    )
    flagged = matrix.ids[matrix.non_music]
    embeddings = EmbeddingTable(ids, vectors, hidden=np.isin(ids, flagged))
    return CatalogSnapshot(version=version, matrix=matrix, embeddings=embeddings, taste_space=space)


class CatalogIndex:
    def __init__(self, session_factory: sessionmaker[Session], *, refresh_s: float = 10.0) -> None:
        self.session_factory = session_factory
        self.refresh_s = refresh_s
        self._snapshot: CatalogSnapshot | None = None
        self._checked_at = 0.0
        self._rebuilding = threading.Lock()

    @property
    def snapshot(self) -> CatalogSnapshot | None:
        """The published snapshot as it is now, without checking for changes (None before the
        first build)."""
        return self._snapshot

    def load(self) -> CatalogSnapshot:
        """Build now (startup, or after an import in this process) and return the snapshot."""
        with self._rebuilding:
            return self._build()

    def _build(self) -> CatalogSnapshot:
        started = time.perf_counter()
        with self.session_factory() as session:
            snapshot = build_snapshot(session)
        self._snapshot = snapshot  # the one assignment that publishes a build
        self._checked_at = time.monotonic()
        log.info(
            "catalog index: %d of %d tracks placeable, %d with embeddings, built in %.2f s",
            len(snapshot.matrix),
            snapshot.tracks_in_db,
            len(snapshot.embeddings),
            time.perf_counter() - started,
        )
        return snapshot

    def current(self) -> CatalogSnapshot:
        """The snapshot to rank with; starts a background rebuild when the catalog has changed."""
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
