"""Use cases that join the pure recommender to the catalog; the API and the CLI both call these,
so ``POST /recommendations`` and ``moodtune recommend --json`` give the same answer."""

import secrets
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

import numpy as np
from sqlalchemy.orm import Session

from moodtune.catalog import repo
from moodtune.catalog.index import CatalogIndex, CatalogSnapshot
from moodtune.catalog.models import FeedbackEvent, Track
from moodtune.recommend import MoodPlan, RankedTrack, RankQuery, TrackMatrix, plan_mood, rank
from moodtune.recommend.cells import ApartRows, TasteBounds
from moodtune.recommend.mood import EmotionInput, Goal, Strategy
from moodtune.recommend.rank import Popularity
from moodtune.recommend.reasons import Reason
from moodtune.recommend.taste import (
    DEFAULT_MODEL,
    Event,
    EventKind,
    fit_taste,
    labels_from_events,
)

__all__ = [
    "TASTE_WEIGHTS",
    "PlaylistParams",
    "PlaylistResult",
    "ListenerTaste",
    "TasteCache",
    "listener_taste",
    "playlist_for_listener",
    "recommend_playlist",
    "taste_summary",
]

Personalization = Literal["low", "medium", "high"]
#: Seed 002's personalization levels: the taste score's share of a track's score.
TASTE_WEIGHTS: Mapping[str, float] = {"low": 0.0, "medium": 0.3, "high": 0.6}


@dataclass(frozen=True)
class PlaylistParams:
    emotions: EmotionInput | None  # or exactly one of point, feeling
    point: tuple[float, float] | None = None
    feeling: str | None = None
    strategy: Strategy = "match"
    n: int = 10
    genres: tuple[str, ...] = ()
    popularity: Popularity = "any"
    allow_explicit: bool = True
    playable_only: bool = False
    personalization: Personalization = "medium"
    seed: int | None = None
    preset: str = "heard"
    goal: Goal = "auto"
    include_non_music: bool = False
    #: Why these tracks, instead of the strategy's words (``intent_*`` code), e.g. for tracks
    #: like an uploaded one.
    intent: str | None = None


@dataclass(frozen=True)
class PlaylistResult:
    plan: MoodPlan
    seed: int
    ranked: list[RankedTrack]
    tracks: dict[int, Track] = field(repr=False)


def recommend_playlist(
    params: PlaylistParams,
    *,
    matrix: TrackMatrix,
    session: Session,
    taste: "ListenerTaste | None" = None,
) -> PlaylistResult:
    """Plan the mood, rank the matrix and load the chosen tracks' rows.

    Without a seed one is drawn and returned, so any playlist can be reproduced exactly.
    """
    seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
    plan = plan_mood(
        params.emotions,
        point=params.point,
        feeling=params.feeling,
        strategy=params.strategy,
        n=params.n,
        preset=params.preset,
        goal=params.goal,
    )
    query = RankQuery(
        targets=plan.targets,
        intents=[Reason(params.intent)] * len(plan.path) if params.intent else plan.intents,
        n=params.n,
        journey=params.strategy == "journey",
        points=plan.path,
        heard_weight=plan.heard_weight,
        genres=tuple(g.casefold() for g in params.genres),
        popularity=params.popularity,
        allow_explicit=params.allow_explicit,
        playable_only=params.playable_only,
        include_non_music=params.include_non_music,
        taste=taste.scores if taste is not None else None,
        taste_weight=TASTE_WEIGHTS[params.personalization] if taste is not None else 0.0,
        taste_cell_max=taste.cell_max if taste is not None else None,
        taste_bounds=taste.bounds if taste is not None else None,
        seed=seed,
    )
    ranked = rank(matrix, query)
    tracks = repo.tracks_by_ids([r.id for r in ranked], session=session)
    return PlaylistResult(
        plan=plan, seed=seed, ranked=[r for r in ranked if r.id in tracks], tracks=tracks
    )


def _as_events(rows: list[FeedbackEvent]) -> list[Event]:
    return [Event(r.track_id, cast(EventKind, r.kind), r.position_ms) for r in rows]


TasteKey = tuple[str, int, tuple[int, datetime | None]]


@dataclass(frozen=True, eq=False)
class ListenerTaste:
    """A listener's taste score (0..1) per matrix row, and the best of them per cell of the
    matrix's cells (None without cells), which the bounded search would otherwise recompute
    on every request; with analysed tracks, also the bounds with those searched apart."""

    scores: np.ndarray
    cell_max: np.ndarray | None = None
    bounds: TasteBounds | None = None

    @classmethod
    def of(
        cls, scores: np.ndarray, matrix: TrackMatrix, apart: ApartRows | None = None
    ) -> "ListenerTaste":
        cells = matrix.cells
        return cls(
            scores,
            cells.taste_max(scores) if cells is not None else None,
            apart.bounds(matrix, scores) if apart is not None else None,
        )

    @property
    def nbytes(self) -> int:
        cell_max = self.cell_max.nbytes if self.cell_max is not None else 0
        bounds = self.bounds.nbytes if self.bounds is not None else 0
        return self.scores.nbytes + cell_max + bounds


class TasteCache:
    """A listener's taste scores per (listener, last event, catalog version), shared by the
    server's threads: least recently used out, a lock around every change. Bounded by entries
    and by bytes: one listener's scores take 4 bytes a track (40 MB at 10M tracks). An
    OrderedDict rather than functools.lru_cache, whose key would have to include the session
    and data."""

    def __init__(self, size: int = 256, max_bytes: int = 512 * 2**20) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self._items: OrderedDict[TasteKey, ListenerTaste | None] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_or_fit(
        self, key: TasteKey, fit: Callable[[], ListenerTaste | None]
    ) -> ListenerTaste | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = fit()  # outside the lock: two threads fitting one key get equal scores
        with self._lock:
            if key not in self._items:
                self._items[key] = value
                self._bytes += value.nbytes if value is not None else 0
            self._items.move_to_end(key)
            while len(self._items) > 1 and (
                len(self._items) > self.size or self._bytes > self.max_bytes
            ):
                evicted = self._items.popitem(last=False)[1]
                self._bytes -= evicted.nbytes if evicted is not None else 0
        return value

    def __len__(self) -> int:
        return len(self._items)


def listener_taste(
    listener_id: str | None,
    personalization: Personalization,
    *,
    snapshot: CatalogSnapshot,
    cache: TasteCache,
    session: Session,
) -> ListenerTaste | None:
    """Taste scores (0..1) of one listener for every row of the snapshot's matrix, or None when
    the level is low, nobody is known, or nothing they liked is known yet. Refitted only when
    their feedback or the catalog changed."""
    if listener_id is None or personalization == "low":
        return None
    events = repo.feedback_of(listener_id, session=session)
    if not events:
        return None
    space = snapshot.taste_space

    def fit() -> ListenerTaste | None:
        model = fit_taste(space, labels_from_events(_as_events(events)), model=DEFAULT_MODEL)
        if model is None:
            return None
        return ListenerTaste.of(space.score(model), snapshot.matrix, snapshot.apart_rows)

    return cache.get_or_fit((listener_id, events[-1].id, snapshot.version), fit)


def playlist_for_listener(
    params: PlaylistParams,
    listener_id: str | None,
    *,
    index: CatalogIndex,
    taste_cache: TasteCache,
    session: Session,
) -> PlaylistResult:
    """What both playlist routes do: one snapshot for the taste scores and the ranking."""
    snapshot = index.current()
    taste = listener_taste(
        listener_id, params.personalization, snapshot=snapshot, cache=taste_cache, session=session
    )
    return recommend_playlist(params, matrix=snapshot.matrix, session=session, taste=taste)


def taste_summary(listener_id: str, *, session: Session) -> dict[str, object]:
    """What the taste model works from, in words a web page can show."""
    events = repo.feedback_of(listener_id, session=session)
    labels = labels_from_events(_as_events(events))
    liked = [t for t, v in labels.items() if v > 0]
    tracks = repo.tracks_by_ids(liked, session=session)

    def typical(name: str) -> float | None:
        values = [getattr(t, name) for t in tracks.values() if getattr(t, name) is not None]
        return round(float(np.median(values)), 3) if values else None

    genres = Counter(g.name for t in tracks.values() for g in t.genres)
    styles: Counter[str] = Counter()
    for style in repo.embedding_styles(liked, session=session).values():
        styles.update(k for k, v in style.items() if v >= 0.35)
    return {
        "events": len(events),
        "liked": len(liked),
        "disliked": sum(1 for v in labels.values() if v < 0),
        "model": DEFAULT_MODEL,
        "valence": typical("valence"),
        "energy": typical("energy"),
        "tempo": typical("tempo"),
        "top_genres": [g for g, _ in genres.most_common(5)],
        "top_styles": [s for s, _ in styles.most_common(5)],
    }
