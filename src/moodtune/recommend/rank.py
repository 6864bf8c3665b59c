"""Rank tracks of an in-memory matrix by heard mood and feature targets, with filters and diversity.

Everything here is numpy over a :class:`TrackMatrix` built once per catalog version; a request
costs a few matrix-vector products per playlist (matrix-matrix for a journey), a partial sort
and a short greedy pass for the artist cap, the one-song-once rule and the genre shares.
"""

import math
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import chain
from typing import TYPE_CHECKING, Literal

import numpy as np

from moodtune.errors import InvalidInput
from moodtune.recommend.genres import GenreLinks
from moodtune.recommend.heard import QUADRANTS, HeardMood, HeardMoodModel, shipped_heard_model
from moodtune.recommend.mood import FeatureTargets
from moodtune.recommend.reasons import Reason, ReasonParam
from moodtune.recommend.vocabulary import FEATURES

if TYPE_CHECKING:
    from moodtune.recommend.cells import CellIndex, GenreCells, TasteBounds

__all__ = [
    "FEATURES",
    "POPULARITY_TARGETS",
    "Popularity",
    "RankQuery",
    "HeardPlacement",
    "RankedTrack",
    "Eligibility",
    "ExhaustiveSearch",
    "Scorer",
    "Search",
    "TrackMatrix",
    "placeable_features",
    "track_song_key",
    "rank",
    "song_key",
    "top_k",
]

_COL = {name: i for i, name in enumerate(FEATURES)}
#: Tracks without these cannot be placed on the circumplex and are left out of the matrix.
_REQUIRED = ("valence", "energy")
#: (low, high) raw range mapped to 0..1 so a unit of distance means as much on every axis:
#: 15 BPM or 4 dB weigh like 0.1 of valence. Others are already 0..1.
_RANGES: Mapping[str, tuple[float, float]] = {
    "tempo": (50.0, 200.0),
    "loudness": (-40.0, 0.0),
    "key": (0.0, 11.0),
}

Popularity = Literal["mainstream", "medium", "low", "any"]
#: Seed 002's popularity levels: the popularity (0..100) each band aims at.
POPULARITY_TARGETS: Mapping[str, float] = {"mainstream": 100.0, "medium": 70.0, "low": 20.0}
#: Share of the score given to popularity when a band is chosen.
_POPULARITY_WEIGHT = 0.25
#: Taste score above which a track is said to be close to what the listener liked.
_LIKED_TASTE = 0.6
#: Popularity similarity assumed for tracks whose popularity is unknown.
_UNKNOWN_POPULARITY_SIMILARITY = 0.4


def _normalise(name: str, values: np.ndarray) -> np.ndarray:
    if name not in _RANGES:
        return values
    low, high = _RANGES[name]
    return np.asarray(np.clip((values - low) / (high - low), 0.0, 1.0), dtype=np.float32)


#: Words that mark another release of the same song in a "- suffix" or "(part)" of a title.
_VERSION_WORDS = re.compile(
    r"\b(remaster(ed)?|live|edit|version|mix|remix(ed)?|mono|stereo|single|radio|feat|ft|"
    r"featuring|with|demo|acoustic|unplugged|explicit|clean|deluxe|bonus|instrumental|extended|"
    r"original|take|session|recorded|from|anniversary|re-?recorded|\d{4})\b"
)
_BRACKETED = re.compile(r"\s*[(\[][^()\[\]]*[)\]]")
_FEATURING = re.compile(r"\s+(feat\.?|ft\.|featuring)\s.*$")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).casefold()


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


def song_key(artist: str, title: str) -> str:
    """The same song under any release: first artist + title without version marks, folded.

    Drops a ``" - Remastered 2011"`` / ``" - Live"`` / ``" - Single Edit"`` suffix and any
    bracketed part naming a version or guest (``"(feat. X)"``, ``"[Live at …]"``), then case,
    accents, punctuation and a leading "the" of the artist. Other bracketed words stay, so
    ``"(I Can't Get No) Satisfaction"`` keeps its name.
    """
    name = _fold(title)
    head, sep, tail = name.partition(" - ")
    if sep and _VERSION_WORDS.search(tail):
        name = head
    name = _BRACKETED.sub(lambda m: "" if _VERSION_WORDS.search(m.group(0)) else m.group(0), name)
    name = _FEATURING.sub("", name)
    who = _fold(artist).strip()
    who = who.removeprefix("the ") if who != "the" else who
    return f"{_alnum(who)}\x1f{_alnum(name) or _alnum(_fold(title))}"


def track_song_key(title: str, artists: Sequence[str]) -> str:
    """:func:`song_key` of a track: its first named artist and its title. Stored with every
    track (``tracks.song_key``), so building a matrix needs no string work per row; a change
    to these rules needs a migration that recomputes the column."""
    names = [a.casefold().strip() for a in artists if a and a.strip()]
    return song_key(names[0] if names else "", title or "")


def _known_medians(raw: np.ndarray) -> np.ndarray:
    """Median of the known values per column; 0 for a column nobody knows (e.g. no tempo yet)."""
    medians = np.zeros(raw.shape[1], dtype=np.float32)
    for i in range(raw.shape[1]):
        known = raw[~np.isnan(raw[:, i]), i]
        if len(known):
            medians[i] = np.median(known)
    return medians


def placeable_features(
    features: Mapping[str, Sequence[float | None] | np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows that can be placed (valence and energy known) and their features.

    Returns
    -------
    keep : np.ndarray [shape=(m,)], int64
        Indices of the placeable rows.
    raw : np.ndarray [shape=(m, F)], float32
        ``FEATURES`` in raw units, gaps filled with the column's median over those rows.
    normed : np.ndarray [shape=(m, F)], float32
        The same scaled to 0..1 (tempo 50-200 BPM, loudness -40-0 dB, key 0-11).
    """
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        raise InvalidInput(f"unknown feature column(s): {unknown}", known=list(FEATURES))
    raw = np.full((n, len(FEATURES)), np.nan, dtype=np.float32)
    for name, values in features.items():
        raw[:, _COL[name]] = np.array(values, dtype=np.float64)  # None -> nan
    raw[raw[:, _COL["key"]] < 0, _COL["key"]] = np.nan  # -1 = key unknown
    keep = np.flatnonzero(~np.isnan(raw[:, [_COL[r] for r in _REQUIRED]]).any(axis=1))
    raw = raw[keep]
    raw = np.where(np.isnan(raw), _known_medians(raw), raw).astype(np.float32)
    normed = np.stack([_normalise(f, raw[:, i]) for i, f in enumerate(FEATURES)], axis=1)
    return keep, raw, normed


@dataclass(frozen=True, eq=False)
class TrackMatrix:
    """Features, heard mood and filter columns of every placeable track, row-aligned.

    Build it with :meth:`build`; rows whose valence or energy is unknown are dropped there and
    other missing features take the column median.
    """

    ids: np.ndarray  # int64 (n,)
    values: np.ndarray  # float32 (n, F) raw units, for reasons
    features: np.ndarray  # float32 (n, F) normalised 0..1, for distances
    popularity: np.ndarray  # float32 (n,), NaN when unknown
    explicit: np.ndarray  # bool (n,)
    artist_ptr: np.ndarray  # int64 (n + 1,) CSR offsets into artist_codes
    artist_codes: np.ndarray  # int32 artist ids, interned per matrix
    song_codes: np.ndarray  # int64 (n,) equal for the same song under different ids
    heard: HeardMood  # where listeners hear each track on the circumplex
    heard_model: HeardMoodModel  # the model that placed them (its kernels rank by them)
    heard_from_audio: np.ndarray  # bool (n,): placed by the audio CNN, else by the features
    non_music: np.ndarray  # bool (n,): flagged as not music, only ranked when asked for
    genres: Mapping[str, np.ndarray] = field(default_factory=dict)  # genre -> sorted rows
    playable: np.ndarray | None = None  # bool (n,): moodtune can stream the audio; None: none
    #: Rows grouped into cells with bounds on every score term, for the bounded search; None:
    #: every request scans (small catalogs, matrices built by hand).
    cells: "CellIndex | None" = None
    #: Genres too large to score directly, each with cells of its own rows (see ``cells``).
    genre_cells: "Mapping[str, GenreCells]" = field(default_factory=dict)
    #: All rows in cells split on features alone, for rankings without heard mood.
    feature_cells: "GenreCells | None" = None
    #: The playable rows in cells of their own, when too many to score directly.
    playable_cells: "GenreCells | None" = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(
        cls,
        *,
        ids: Sequence[int] | np.ndarray,
        features: Mapping[str, Sequence[float | None] | np.ndarray],
        popularity: Sequence[float | None] | np.ndarray,
        explicit: Sequence[bool | None] | np.ndarray,
        artists: Sequence[Sequence[str]],
        titles: Sequence[str],
        genres: Sequence[Sequence[str]] | GenreLinks,
        playable: Sequence[bool] | np.ndarray | None = None,
        durations_ms: Sequence[float | None] | None = None,
        quadrants: Sequence[Mapping[str, float] | None] | None = None,
        non_music: Sequence[bool] | np.ndarray | None = None,
        heard_model: HeardMoodModel | None = None,
        song_keys: Sequence[str | None] | None = None,
    ) -> "TrackMatrix":
        """Assemble a matrix from row-aligned columns (``None``/NaN = unknown).

        ``features`` maps names in ``FEATURES`` to columns; absent names count as unknown.
        ``genres`` lists each row's genres, or links them (:class:`GenreLinks`, as the database
        stores them). ``song_keys`` are the stored :func:`track_song_key` of the rows; missing
        ones are computed from ``artists`` and ``titles``.
        ``quadrants`` holds the audio CNN's quadrant probabilities of analysed tracks (None
        elsewhere): those tracks are placed by the audio model, the rest by their features.
        ``heard_model`` defaults to the shipped model.
        """
        n = len(ids)
        links = genres if isinstance(genres, GenreLinks) else GenreLinks.from_lists(genres)
        columns = [("titles", len(titles)), ("artists", len(artists)), ("genres", links.n)]
        for name, length in columns + [("song_keys", len(song_keys or ids))]:
            if length != n:
                raise InvalidInput(f"{name} has {length} rows, ids has {n}")
        keep, raw, normed = placeable_features(features, n)
        ptr, artist_codes = _artist_codes(artists, keep)
        song_codes = _song_codes(keep, artists, titles, song_keys)
        kept_genres = links.take(keep)
        model = heard_model if heard_model is not None else shipped_heard_model()
        durations = np.full(n, np.nan)
        if durations_ms is not None:
            durations = np.array(durations_ms, dtype=np.float64)  # None -> nan
        kept_quadrants = None if quadrants is None else _objects(quadrants)[keep]
        heard, from_audio = _place(
            model, normed, durations[keep] / 1000.0, kept_genres, kept_quadrants
        )
        return cls(
            ids=np.asarray(ids, dtype=np.int64)[keep],
            values=raw,
            features=np.asfortranarray(normed, dtype=np.float32),  # columns scored one by one
            popularity=np.array(popularity, dtype=np.float64)[keep].astype(np.float32),
            explicit=np.array(explicit, dtype=bool)[keep],  # None -> False
            artist_ptr=ptr,
            artist_codes=artist_codes,
            song_codes=song_codes,
            heard=heard,
            heard_model=model,
            heard_from_audio=from_audio,
            non_music=np.zeros(len(keep), bool)
            if non_music is None
            else np.array(non_music, dtype=bool)[keep],
            genres=kept_genres.groups(),
            playable=None if playable is None else np.array(playable, dtype=bool)[keep],
        )

    @cached_property
    def has_non_music(self) -> bool:
        return bool(self.non_music.any())

    @cached_property
    def playable_rows(self) -> np.ndarray:
        """Sorted rows moodtune can stream (usually a small share of a large catalog)."""
        if self.playable is None:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(self.playable)

    def artists_of(self, row: int) -> np.ndarray:
        return self.artist_codes[self.artist_ptr[row] : self.artist_ptr[row + 1]]

    @staticmethod
    def taste_columns() -> list[int]:
        """The columns of ``features`` in the taste space: all but the key (a pitch class, not
        a quantity that liking could follow)."""
        return [i for i, f in enumerate(FEATURES) if f != "key"]


def _artist_codes(
    artists: Sequence[Sequence[str]], keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """CSR artist codes of rows ``keep``: (offsets (len(keep) + 1,), codes int32). Names are
    folded (case, outer space) and interned once per distinct name, not once per track; empty
    names are dropped. Codes are only compared for equality (the per-artist cap)."""
    lengths = np.fromiter(map(len, artists), dtype=np.int64, count=len(artists))
    flat = np.array(list(chain.from_iterable(artists)), dtype=object)
    if not len(flat):
        return np.zeros(len(keep) + 1, np.int64), np.zeros(0, np.int32)
    distinct, which = np.unique(flat, return_inverse=True)
    folded = np.array([(a or "").casefold().strip() for a in distinct.tolist()], dtype=object)
    names, code_of_distinct = np.unique(folded, return_inverse=True)
    codes = code_of_distinct[which]
    position = np.full(len(artists), -1, dtype=np.int64)
    position[keep] = np.arange(len(keep))
    rows = position[np.repeat(np.arange(len(artists)), lengths)]
    wanted = (rows >= 0) & (names[codes] != "")
    counts = np.bincount(rows[wanted], minlength=len(keep))
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return ptr, codes[wanted].astype(np.int32)


def _objects(values: Sequence[object]) -> np.ndarray:
    """A 1-d object array of ``values`` (``np.array`` would nest lists and dicts)."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _song_codes(
    keep: np.ndarray,
    artists: Sequence[Sequence[str]],
    titles: Sequence[str],
    song_keys: Sequence[str | None] | None,
) -> np.ndarray:
    """Equal codes for rows of the same song: from the stored keys, computing only missing ones."""
    if not len(keep):
        return np.zeros(0, np.int64)
    keys = _objects(song_keys if song_keys is not None else [None] * len(artists))[keep]
    missing = ~keys.astype(bool)  # None (a key is never empty: it holds a separator)
    for i in np.flatnonzero(missing).tolist():  # rows written before the column existed
        row = int(keep[i])
        keys[i] = track_song_key(titles[row] or "", artists[row])
    return np.unique(keys, return_inverse=True)[1].astype(np.int64)


def _place(
    model: HeardMoodModel,
    normed: np.ndarray,
    duration_s: np.ndarray,
    genres: GenreLinks,
    quadrants: np.ndarray | None,
) -> tuple[HeardMood, np.ndarray]:
    """Heard mood of every row: the audio CNN's where a track was analysed (``quadrants``, an
    object array of probability dicts, None elsewhere), else the features'."""
    columns = {f: normed[:, i] for i, f in enumerate(FEATURES)}
    catalog = model.place_catalog({**columns, "duration_s": duration_s}, genres)
    if quadrants is None:
        return catalog, np.zeros(len(normed), bool)
    from_audio = quadrants.astype(bool)  # None and {} are not analysed
    if not from_audio.any():
        return catalog, from_audio
    rows = np.flatnonzero(from_audio)
    audio = model.place_audio(
        np.array([[quadrants[r][q] for q in QUADRANTS] for r in rows.tolist()])
    )
    probs, point, spread = catalog.probs.copy(), catalog.point.copy(), catalog.spread.copy()
    probs[rows], point[rows], spread[rows] = audio.probs, audio.point, audio.spread
    return HeardMood(probs, point, spread), from_audio


@dataclass(frozen=True)
class RankQuery:
    """What to rank for: one target (a static list) or one per position (a journey)."""

    targets: Sequence[FeatureTargets]
    intents: Sequence[Reason]  # per target: why it fits, e.g. intent_match (emotion_sad)
    n: int = 10
    journey: bool = False
    #: (n_targets, 2) circumplex points the heard mood is ranked against, and the share of the
    #: score that nearness gets (0: feature targets only, as the older presets rank).
    points: np.ndarray | None = None
    heard_weight: float = 0.0
    genres: Sequence[str] = ()
    popularity: Popularity = "any"
    allow_explicit: bool = True
    playable_only: bool = False  # only tracks whose audio moodtune can stream
    include_non_music: bool = False  # flagged non-music (noise, speech, …) may be ranked too
    #: Per matrix row, how much this listener should like the track (0..1), and its share of
    #: the score: 0 = mood only (personalization low).
    taste: np.ndarray | None = None
    taste_weight: float = 0.0
    #: Per cell of ``matrix.cells``, the best of ``taste`` (``CellIndex.taste_max``): saves a
    #: pass over every row when the same listener's scores rank again.
    taste_cell_max: np.ndarray | None = None
    #: The same listener's bounds with the analysed tracks searched apart
    #: (``cells.TasteBounds``): tighter for requests over the whole catalog.
    taste_bounds: "TasteBounds | None" = None
    max_per_artist: int = 2
    seed: int | None = None
    #: Gumbel noise scale on scores: near-ties vary between seeds, clear winners stay.
    temperature: float = 0.01


@dataclass(frozen=True)
class HeardPlacement:
    """Where listeners hear one track, for responses and the mood map."""

    valence: float
    arousal: float
    uncertainty: float  # spread of the heard-mood mixture, circumplex units
    quadrant: str  # most probable quadrant
    probability: float  # its probability
    source: Literal["features", "audio"]


@dataclass(frozen=True)
class RankedTrack:
    """One chosen track: its matrix row, catalog id, score in 0..1 and 1-3 reasons."""

    row: int
    id: int
    score: float
    reasons: tuple[Reason, ...]
    heard: HeardPlacement


def heard_placement(matrix: TrackMatrix, row: int) -> HeardPlacement:
    return heard_placement_of(
        matrix.heard, row, "audio" if matrix.heard_from_audio[row] else "features"
    )


def heard_placement_of(
    heard: HeardMood, row: int, source: Literal["features", "audio"]
) -> HeardPlacement:
    """Row ``row`` of a heard-mood placement, as responses and the mood map show it (read as
    Python floats at once: numpy scalars one by one took 7 % of a genre request at 10M)."""
    probs = heard.probs[row].tolist()
    best = probs.index(max(probs))
    valence, arousal = heard.point[row].tolist()
    return HeardPlacement(
        valence=round(valence, 4),
        arousal=round(arousal, 4),
        uncertainty=round(float(heard.spread[row]), 4),
        quadrant=QUADRANTS[best],
        probability=round(probs[best], 4),
        source=source,
    )


def rank(matrix: TrackMatrix, query: RankQuery, *, exhaustive: bool = False) -> list[RankedTrack]:
    """Choose ``query.n`` tracks nearest to the targets under filters and diversity rules.

    Parameters
    ----------
    matrix : TrackMatrix
    query : RankQuery
        ``targets`` (and ``points``) have one entry for a static list or ``n`` entries
        (``journey=True``), one per playlist position, in order.
    exhaustive : bool
        Score every eligible row instead of searching the matrix's cells by their bounds
        (:mod:`moodtune.recommend.cells`). Both give the same list; the scan is the reference
        the tests and ``bench/scale.py`` compare the search with.

    Returns
    -------
    tracks : list[RankedTrack]
        At most ``n`` tracks (fewer when the filters leave fewer), no song twice, at most
        ``max_per_artist`` per artist, and with several genres a share of the list per genre.
        Static lists are sorted by score; journeys keep the order of their targets.
        ``mood = h * closeness(heard, point) + (1 - h) * (1 - sqrt(Σ w (x - t)² / Σ w))``
        with ``h = heard_weight``; then ``score = (1 - p) * mood + p * pop_sim`` with
        ``p = 0.25`` when a popularity band is chosen, and the taste share mixed in likewise.
    """
    _check_query(matrix, query)
    scorer = Scorer(matrix, query)
    eligible = Eligibility.of(matrix, query)
    search: Search
    if exhaustive or matrix.cells is None:
        search = ExhaustiveSearch(matrix, scorer, eligible)
    else:
        search = matrix.cells.search(matrix, scorer, eligible)
    rng = np.random.default_rng(query.seed)
    diversity = _Diversity(matrix, query.max_per_artist)
    shares = _GenreShares(matrix, query)
    if query.journey:
        picks = _pick_journey(query, search, diversity, shares, rng)
    else:
        picks = _pick_static(query, search, diversity, shares, rng)
        picks.sort(key=lambda p: -p[2])
    ranked = []
    for row, step, score in picks:
        heard = heard_placement(matrix, row)
        ranked.append(
            RankedTrack(
                row=row,
                id=int(matrix.ids[row]),
                score=round(score, 4),
                reasons=_reasons(matrix, query, row, step, heard, shares.genres_of(row)),
                heard=heard,
            )
        )
    return ranked


def _check_query(matrix: TrackMatrix, query: RankQuery) -> None:
    if not 1 <= query.n <= 100:
        raise InvalidInput(f"n must be between 1 and 100, got {query.n}")
    expected = query.n if query.journey else 1
    if len(query.targets) != expected or len(query.intents) != expected:
        raise InvalidInput(
            f"expected {expected} target(s) and intent(s), got {len(query.targets)} and "
            f"{len(query.intents)}"
        )
    if not 0.0 <= query.heard_weight <= 1.0:
        raise InvalidInput(f"heard_weight must be in 0..1, got {query.heard_weight}")
    if query.heard_weight > 0 and (query.points is None or np.shape(query.points) != (expected, 2)):
        raise InvalidInput(f"heard_weight > 0 needs {expected} (valence, arousal) point(s)")
    if len(query.genres) > 3:
        raise InvalidInput(f"at most 3 genres, got {len(query.genres)}", genres=list(query.genres))
    unknown = sorted(set(query.genres) - set(matrix.genres))
    if unknown:
        raise InvalidInput(
            f"unknown genre(s): {', '.join(unknown)}", unknown=unknown, known=sorted(matrix.genres)
        )
    if query.popularity != "any" and query.popularity not in POPULARITY_TARGETS:
        raise InvalidInput(f"unknown popularity band {query.popularity!r}")
    if query.max_per_artist < 1:
        raise InvalidInput(f"max_per_artist must be >= 1, got {query.max_per_artist}")
    if query.taste is not None and len(query.taste) != len(matrix):
        raise InvalidInput(f"taste has {len(query.taste)} rows, the matrix {len(matrix)}")
    if not 0.0 <= query.taste_weight <= 1.0:
        raise InvalidInput(f"taste_weight must be in 0..1, got {query.taste_weight}")


def _target_arrays(targets: Sequence[FeatureTargets]) -> tuple[np.ndarray, np.ndarray]:
    """(n_targets, F) normalised target values and (n_targets, F) weights (0 = not used)."""
    weights = np.zeros((len(targets), len(FEATURES)), dtype=np.float32)
    values = np.zeros((len(targets), len(FEATURES)), dtype=np.float32)
    for i, target in enumerate(targets):
        for name, weight in target.weights.items():
            weights[i, _COL[name]] = weight
        for name, value in target.values.items():
            values[i, _COL[name]] = _normalise(name, np.asarray(value, dtype=np.float32))
    return values, weights


class Scorer:
    """The score in 0..1 of any rows for any target of one query.

    Every term is computed column by column with elementwise float32 operations (no BLAS
    product, whose rounding can depend on where a row sits in the block), so a row gets the
    same bits whether it is scored alone, with its cell or in a full scan: that is what lets
    the bounded search return exactly the list of the exhaustive scan.
    """

    def __init__(self, matrix: TrackMatrix, query: RankQuery) -> None:
        self.matrix = matrix
        self.targets, self.weights = _target_arrays(query.targets)
        # per target: the features it scores (read by the cells' bounds too) and their total
        # weight, read by every call
        self.used = [np.flatnonzero(w).tolist() for w in self.weights]
        self._weight_sums = [np.float32(max(float(w.sum()), 1e-9)) for w in self.weights]
        self.heard_weight = float(query.heard_weight)
        self.kernels: np.ndarray | None = None  # (n_targets, 4) kernel per quadrant, max 1
        if self.heard_weight > 0.0:
            assert query.points is not None
            self.kernels = matrix.heard_model.normalised_kernels(query.points)
        self.popularity_target = (
            None if query.popularity == "any" else POPULARITY_TARGETS[query.popularity]
        )
        weighted_taste = query.taste is not None and query.taste_weight > 0
        self.taste = query.taste if weighted_taste else None
        self.taste_weight = float(query.taste_weight) if weighted_taste else 0.0
        self.taste_cell_max = query.taste_cell_max if weighted_taste else None
        self.taste_bounds = query.taste_bounds if weighted_taste else None

    def __call__(self, step: int, rows: np.ndarray | None) -> np.ndarray:
        """float32 scores of ``rows`` (all rows when None) for target ``step``."""
        m = self.matrix

        def column(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        share = np.float32(self.heard_weight)
        n = len(m) if rows is None else len(rows)
        scores = np.zeros(n, dtype=np.float32)
        if share < 1.0:
            weights = self.weights[step]
            distance = np.zeros(n, dtype=np.float32)
            for j in self.used[step]:
                gap = column(m.features[:, j]) - self.targets[step, j]
                gap *= gap
                gap *= weights[j]
                distance += gap
            distance /= self._weight_sums[step]
            np.sqrt(distance, out=distance)
            scores += (np.float32(1.0) - distance) * (np.float32(1.0) - share)
        if self.kernels is not None:
            probs = m.heard.probs
            near = np.zeros(n, dtype=np.float32)
            for q in range(probs.shape[1]):
                near += self.kernels[step, q] * column(probs[:, q])
            scores += share * near
        if self.popularity_target is not None:
            similarity = np.float32(1.0) - np.abs(
                column(m.popularity) - np.float32(self.popularity_target)
            ) / np.float32(100.0)
            similarity[np.isnan(similarity)] = _UNKNOWN_POPULARITY_SIMILARITY
            scores *= np.float32(1.0 - _POPULARITY_WEIGHT)
            scores += np.float32(_POPULARITY_WEIGHT) * similarity
        if self.taste is not None:
            scores *= np.float32(1.0 - self.taste_weight)
            scores += np.float32(self.taste_weight) * column(self.taste).astype(np.float32)
        return scores


@dataclass(frozen=True)
class Eligibility:
    """The hard filters of one query: rows outside them are never scored or picked."""

    genres: tuple[str, ...]
    allow_explicit: bool
    playable_only: bool
    include_non_music: bool

    @classmethod
    def of(cls, matrix: TrackMatrix, query: RankQuery) -> "Eligibility":
        return cls(tuple(query.genres), query.allow_explicit, query.playable_only,
                   query.include_non_music or not matrix.has_non_music)  # fmt: skip

    def group_rows(self, matrix: TrackMatrix, genre: str | None) -> np.ndarray | None:
        """Sorted rows of one genre group (``genre``, or every chosen genre when None), only
        the playable ones when asked; None when neither narrows it (every row). Small groups
        are scored directly rather than searched by cells."""
        rows = self._genre_rows(matrix, genre)
        if self.playable_only:
            playable = matrix.playable_rows
            rows = playable if rows is None else np.intersect1d(rows, playable, assume_unique=True)
        return rows

    def _genre_rows(self, matrix: TrackMatrix, genre: str | None) -> np.ndarray | None:
        if genre is not None:
            return matrix.genres[genre]
        if not self.genres:
            return None
        if len(self.genres) == 1:
            return matrix.genres[self.genres[0]]
        return np.unique(np.concatenate([matrix.genres[g] for g in self.genres]))

    def keep(self, matrix: TrackMatrix, rows: np.ndarray) -> np.ndarray:
        """The rows of ``rows`` that pass the row filters (explicit, non-music); rows come
        from a group, which already holds only playable rows when asked."""
        if not self.filters_rows:
            return rows
        ok = np.ones(len(rows), dtype=bool)
        if not self.allow_explicit:
            ok &= ~matrix.explicit[rows]
        if not self.include_non_music:
            ok &= ~matrix.non_music[rows]
        return rows if ok.all() else rows[ok]

    @property
    def filters_rows(self) -> bool:
        return not (self.allow_explicit and self.include_non_music)


def top_k(rows: np.ndarray | None, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best (row, score) pairs, by score then lower row first: one order for any set
    of candidates, so ties break alike in every search."""
    if len(scores) > k:
        part = np.argpartition(scores, len(scores) - k)[len(scores) - k :]
        idx = np.flatnonzero(scores >= scores[part].min())  # every tie at the k-th score
    else:
        idx = np.arange(len(scores))
    chosen = idx if rows is None else rows[idx]
    order = np.lexsort((chosen, -scores[idx]))[:k]
    return chosen[order].astype(np.int64), scores[idx][order]


class Search:
    """The best rows of one target within one genre group, by :func:`top_k`'s order."""

    def top(self, step: int, genre: str | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class ExhaustiveSearch(Search):
    """Score every eligible row of the group (once per target and group), then take the best."""

    def __init__(self, matrix: TrackMatrix, scorer: Scorer, eligible: Eligibility) -> None:
        self.matrix, self.scorer, self.eligible = matrix, scorer, eligible
        self._scored: dict[tuple[int, str | None], tuple[np.ndarray | None, np.ndarray]] = {}

    def top(self, step: int, genre: str | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        key = (step, genre)
        if key not in self._scored:
            rows = self.eligible.group_rows(self.matrix, genre)
            if self.eligible.filters_rows:
                base = np.arange(len(self.matrix)) if rows is None else rows
                rows = self.eligible.keep(self.matrix, base)
            self._scored[key] = (rows, self.scorer(step, rows))
        rows, scores = self._scored[key]
        return top_k(rows, scores, k)


class _Diversity:
    """The artist cap and the no-duplicate-song rule while a playlist is filled (a chosen
    track's song is taken, so nothing is chosen twice)."""

    def __init__(self, matrix: TrackMatrix, max_per_artist: int) -> None:
        self.matrix = matrix
        self.max_per_artist = max_per_artist
        self.per_artist: dict[int, int] = {}
        self.songs: set[int] = set()

    def admits(self, row: int) -> bool:
        if int(self.matrix.song_codes[row]) in self.songs:
            return False
        counts = self.per_artist
        return all(counts.get(int(a), 0) < self.max_per_artist for a in self.matrix.artists_of(row))

    def add(self, row: int) -> None:
        self.songs.add(int(self.matrix.song_codes[row]))
        for a in self.matrix.artists_of(row):
            self.per_artist[int(a)] = self.per_artist.get(int(a), 0) + 1


class _GenreShares:
    """With several genres, each gets an equal share of the list (the first ones get the
    remainder) while it has eligible tracks; a track in two chosen genres counts for both."""

    def __init__(self, matrix: TrackMatrix, query: RankQuery) -> None:
        self.matrix = matrix
        self.genres = tuple(query.genres)
        self._genres_of: dict[int, list[str]] = {}
        self.groups: list[str | None] = [None]
        self.quota = [float(query.n)]
        if len(query.genres) > 1:
            self.groups = list(query.genres)
            base, extra = divmod(query.n, len(self.groups))
            self.quota = [float(max(1, base + (i < extra))) for i in range(len(self.groups))]
        self.count = [0.0] * len(self.groups)

    def turns(self, open_groups: set[int]) -> list[int]:
        """Groups still open, the one furthest below its share first."""
        return sorted(open_groups, key=lambda g: (self.count[g] / self.quota[g], g))

    def add(self, row: int) -> None:
        if len(self.groups) == 1:
            self.count[0] += 1
            return
        matched = self.genres_of(row)
        for g, genre in enumerate(self.groups):
            if genre in matched:
                self.count[g] += 1

    def genres_of(self, row: int) -> list[str]:
        """The chosen genres ``row`` is in, looked up once per row (every eligible row is in
        the one genre of a request for one)."""
        if len(self.genres) <= 1:
            return list(self.genres)
        if row not in self._genres_of:
            self._genres_of[row] = [g for g in self.genres if _row_in(self.matrix.genres[g], row)]
        return self._genres_of[row]


def _best_first(
    search: Search,
    step: int,
    genre: str | None,
    rng: np.random.Generator,
    temperature: float,
    pool: int,
) -> Iterator[tuple[int, float]]:
    """(row, score) of the group by ``score + temperature * Gumbel``, best first.

    Only the top ``pool`` by score get noise and are sorted; when a picker has used them up the
    pool grows fourfold (already yielded rows are not repeated).
    """
    seen: set[int] = set()
    while True:
        rows, scores = search.top(step, genre, pool)
        keys = scores + temperature * rng.gumbel(size=len(rows)).astype(np.float32)
        for i in np.argsort(-keys, kind="stable").tolist():
            row = int(rows[i])
            if row not in seen:
                seen.add(row)
                yield row, float(scores[i])
        if len(rows) < pool:
            return
        pool *= 4


def _pick_static(
    query: RankQuery,
    search: Search,
    diversity: _Diversity,
    shares: _GenreShares,
    rng: np.random.Generator,
) -> list[tuple[int, int, float]]:
    """Fill the list best first; with several genres, the genre furthest below its share
    picks next."""
    pool = max(64, 8 * query.n)
    streams = [_best_first(search, 0, g, rng, query.temperature, pool) for g in shares.groups]
    open_groups = set(range(len(streams)))
    picks: list[tuple[int, int, float]] = []
    while len(picks) < query.n and open_groups:
        group = shares.turns(open_groups)[0]
        pick = next((p for p in streams[group] if diversity.admits(p[0])), None)
        if pick is None:
            open_groups.discard(group)
            continue
        diversity.add(pick[0])
        shares.add(pick[0])
        picks.append((pick[0], 0, pick[1]))
    return picks


def _pick_journey(
    query: RankQuery,
    search: Search,
    diversity: _Diversity,
    shares: _GenreShares,
    rng: np.random.Generator,
) -> list[tuple[int, int, float]]:
    """Greedy along the path: each position takes its best admissible track not yet used,
    from the genre furthest below its share that still has one."""
    picks: list[tuple[int, int, float]] = []
    pool = max(64, 8 * query.n)
    for step in range(len(query.targets)):
        pick = None
        for group in shares.turns(set(range(len(shares.groups)))):
            stream = _best_first(search, step, shares.groups[group], rng, query.temperature, pool)
            pick = next((p for p in stream if diversity.admits(p[0])), None)
            if pick is not None:
                break
        if pick is None:
            break
        diversity.add(pick[0])
        shares.add(pick[0])
        picks.append((pick[0], step, pick[1]))
    return picks


def _word(value: float, bands: Sequence[tuple[float, str]], last: str) -> str:
    return next((word for limit, word in bands if value < limit), last)


def _heard_reason(heard: HeardPlacement, intent: Mapping[str, ReasonParam]) -> Reason:
    """How listeners hear the track, said only as surely as the model knows it."""
    sure = heard.probability
    certainty = "sure" if sure >= 0.6 else "mostly" if sure >= 0.4 else "uncertain"
    who = "audio" if heard.source == "audio" else "listeners"
    return Reason(
        f"heard_{who}_{certainty}",
        {"quadrant": f"quadrant_{heard.quadrant}", "sure": round(100 * sure), **intent},
    )


def _sound_reason(values: list[float], intent: Mapping[str, ReasonParam]) -> Reason:
    valence, energy = values[_COL["valence"]], values[_COL["energy"]]
    feel = _word(
        valence,
        [(0.2, "dark"), (0.4, "melancholic"), (0.6, "bittersweet"), (0.8, "warm")],
        "joyful",
    )
    drive = _word(
        energy,
        [(0.2, "very_calm"), (0.4, "gentle"), (0.6, "steady"), (0.8, "energetic")],
        "intense",
    )
    return Reason(
        "sound",
        {
            "feel": f"feel_{feel}",
            "drive": f"drive_{drive}",
            "valence": round(valence, 2),
            "energy": round(energy, 2),
            **intent,
        },
    )


def _reasons(
    matrix: TrackMatrix,
    query: RankQuery,
    row: int,
    step: int,
    heard: HeardPlacement,
    genres: list[str],
) -> tuple[Reason, ...]:
    """1-3 short reasons a listener understands, most important first."""
    v = matrix.values[row].tolist()
    tempo = v[_COL["tempo"]]
    intent = {"intent": query.intents[step].code, **query.intents[step].params}
    feel = _heard_reason(heard, intent) if query.heard_weight > 0 else _sound_reason(v, intent)
    reasons = [feel]
    if tempo > 0:
        pace = _word(tempo, [(80, "slow"), (110, "relaxed"), (140, "upbeat")], "fast")
        mode = "mode_major" if v[_COL["mode"]] >= 0.5 else "mode_minor"
        reasons.append(Reason("tempo", {"pace": f"pace_{pace}", "mode": mode, "bpm": round(tempo)}))
    if query.taste is not None and query.taste_weight > 0 and query.taste[row] >= _LIKED_TASTE:
        reasons.insert(1, Reason("liked_close"))
    extra = _filter_reason(matrix, query, row, genres)
    if extra:
        reasons.append(extra)
    if matrix.non_music[row]:
        reasons.insert(1, Reason("non_music"))
    return tuple(reasons[:3])


def _filter_reason(
    matrix: TrackMatrix, query: RankQuery, row: int, matched: list[str]
) -> Reason | None:
    """The chosen genres the track is in (``matched``), else its popularity band if chosen."""
    if matched:
        code = "genres" if len(matched) > 1 else "genre"
        return Reason(code, {"genres": ", ".join(matched)})
    if query.popularity != "any":
        pop = matrix.popularity[row]
        band = f"band_{query.popularity}"
        if math.isnan(pop):
            return Reason("popularity_unknown", {"band": band})
        return Reason("popularity_band", {"band": band, "popularity": round(float(pop))})
    return None


def _row_in(sorted_rows: np.ndarray, row: int) -> bool:
    i = int(np.searchsorted(sorted_rows, row))
    return i < len(sorted_rows) and int(sorted_rows[i]) == row
