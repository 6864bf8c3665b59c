"""The in-memory feature matrix of the catalog, rebuilt when the catalog changes.

A server keeps one :class:`CatalogIndex`. Requests read :attr:`matrix` without locks; at most
every ``refresh_s`` seconds a request compares the catalog version (track count, newest
``updated_at``) with the one the matrix was built from and, when it moved (a CLI import, another
replica), rebuilds in a background thread while requests keep using the old matrix.
"""

import logging
import threading
import time
from datetime import datetime

import numpy as np
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog import repo
from moodtune.recommend import TrackMatrix
from moodtune.recommend.heard import HeardMoodModel
from moodtune.recommend.similar import EmbeddingTable
from moodtune.recommend.taste import TasteSpace

__all__ = ["CatalogIndex", "load_matrix"]

log = logging.getLogger(__name__)


def load_matrix(session: Session, *, heard_model: HeardMoodModel | None = None) -> TrackMatrix:
    """Build the ranking matrix from every track in the database (placed by ``heard_model``,
    the shipped one by default)."""
    return TrackMatrix.build(**repo.matrix_columns(session=session), heard_model=heard_model)


class CatalogIndex:
    def __init__(self, session_factory: sessionmaker[Session], *, refresh_s: float = 10.0) -> None:
        self.session_factory = session_factory
        self.refresh_s = refresh_s
        self.matrix: TrackMatrix | None = None
        self.embeddings = EmbeddingTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
        #: The content space of listener taste, with the matrix it was built from (one
        #: attribute, so a reader never pairs a space with another build's matrix).
        self._taste: tuple[TrackMatrix, TasteSpace] | None = None
        #: (listener, events seen, last event id, matrix) -> taste scores per matrix row
        self.taste_cache: dict[tuple[str, int, int, int], np.ndarray | None] = {}
        self.version: tuple[int, datetime | None] | None = None
        self.tracks_in_db = 0
        self._checked_at = 0.0
        self._rebuilding = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self.matrix is not None

    def load(self) -> TrackMatrix:
        """Build now (startup, or after an import in this process) and return the matrix."""
        with self._rebuilding:
            return self._build()

    def _build(self) -> TrackMatrix:
        started = time.perf_counter()
        with self.session_factory() as session:
            version = repo.catalog_version(session=session)
            matrix = load_matrix(session)
            ids, vectors = repo.embedding_matrix(session=session)
        space = TasteSpace.build(
            matrix.ids,
            matrix.taste_features(),
            {int(t): vectors[i] for i, t in enumerate(ids.tolist())},
        )
        flagged = matrix.ids[matrix.non_music]
        self.embeddings = EmbeddingTable(ids, vectors, hidden=np.isin(ids, flagged))
        self._taste, self.taste_cache = (matrix, space), {}
        self.matrix, self.version, self.tracks_in_db = matrix, version, version[0]
        self._checked_at = time.monotonic()
        log.info(
            "catalog index: %d of %d tracks placeable, %d with embeddings, built in %.2f s",
            len(matrix),
            version[0],
            len(self.embeddings),
            time.perf_counter() - started,
        )
        return matrix

    def taste_space_for(self, matrix: TrackMatrix) -> TasteSpace | None:
        """The taste space built with ``matrix``; None once a rebuild has replaced it."""
        built = self._taste
        return built[1] if built is not None and built[0] is matrix else None

    def current(self) -> TrackMatrix:
        """The matrix to rank with; starts a background rebuild when the catalog has changed."""
        if self.matrix is None:
            return self.load()
        now = time.monotonic()
        if now - self._checked_at >= self.refresh_s:
            self._checked_at = now
            with self.session_factory() as session:
                version = repo.catalog_version(session=session)
            if version != self.version and self._rebuilding.acquire(blocking=False):
                threading.Thread(target=self._rebuild_in_background, daemon=True).start()
        return self.matrix

    def _rebuild_in_background(self) -> None:
        try:
            self._build()
        except Exception:  # keep serving the old matrix; the next check retries
            log.exception("catalog index rebuild failed")
        finally:
            self._rebuilding.release()
