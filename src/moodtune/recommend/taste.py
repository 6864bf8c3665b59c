"""A listener's taste from likes, dislikes, plays and skips: a content model that scores tracks
nobody has played yet (collaborative filtering cannot).

Tracks are points in a content space (standardised audio features, plus the audio CNN's
embedding where the track was analysed). Feedback becomes weighted labels (seed 003, section
1.1.3): a like is a strong positive, a completed play a mild one, an early skip a weak negative,
a dislike a strong negative. Three models fit those labels:

- ``centroid``: cosine to the weighted mean of positives minus that of negatives;
- ``logistic``: L2-regularised logistic regression, tracks never played as weak negatives;
- ``mlp``: seed 003's method, a small MLP trained on fixed positives with negatives re-sampled
  from the rest of the catalog every epoch.

The default is the one that won ``bench/taste_eval.py`` (see docs/recommender.md).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from moodtune.errors import InvalidInput

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "SIGNAL_WEIGHTS",
    "CentroidTaste",
    "Event",
    "EventKind",
    "LogisticTaste",
    "MlpTaste",
    "RowLookup",
    "TasteModel",
    "TasteSpace",
    "BackgroundRows",
    "fit_taste",
    "labels_from_events",
]

EventKind = Literal["play", "like", "dislike", "skip", "complete"]
#: Label weight per event (seed 003 section 1.1.3): explicit signals outweigh implicit ones.
SIGNAL_WEIGHTS: Mapping[str, float] = {
    "like": 1.0,
    "dislike": -1.0,
    "complete": 0.4,
    "skip_early": -0.3,  # skipped in the first 30 s: probably not for me
    "skip_late": -0.1,  # skipped after 30 s: weak evidence either way
    "play": 0.0,  # starting a track says nothing yet
}
EARLY_SKIP_MS = 30_000


@dataclass(frozen=True)
class Event:
    track_id: int
    kind: EventKind
    position_ms: int | None = None


def labels_from_events(events: Iterable[Event]) -> dict[int, float]:
    """Per track, the summed signal weight clipped to -1..1; tracks summing to 0 are left out."""
    totals: dict[int, float] = {}
    for event in events:
        if event.kind == "skip":
            early = event.position_ms is None or event.position_ms < EARLY_SKIP_MS
            weight = SIGNAL_WEIGHTS["skip_early" if early else "skip_late"]
        elif event.kind in SIGNAL_WEIGHTS:
            weight = SIGNAL_WEIGHTS[event.kind]
        else:
            raise InvalidInput(f"unknown feedback kind {event.kind!r}")
        totals[event.track_id] = totals.get(event.track_id, 0.0) + weight
    return {t: float(np.clip(w, -1.0, 1.0)) for t, w in totals.items() if abs(w) > 1e-9}


class RowLookup:
    """Track id -> row for unique ids: a table indexed by id when the ids are dense, as
    database keys are (4 bytes a track: 40 MB at 10M tracks), else a binary search over the
    sorted ids (16 bytes a track); a dict of ten million ids would cost about a gigabyte."""

    def __init__(self, ids: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        self._first = int(ids.min()) if len(ids) else 0
        span = int(ids.max()) - self._first + 1 if len(ids) else 0
        self._table: np.ndarray | None = None
        if span <= 2 * len(ids) and len(ids) < 2**31:
            self._table = np.full(span, -1, dtype=np.int32)
            self._table[ids - self._first] = np.arange(len(ids), dtype=np.int32)
        else:
            self._order = np.argsort(ids, kind="stable")
            self._sorted = ids[self._order]

    def rows_of(self, track_ids: np.ndarray) -> np.ndarray:
        """Row of each id, -1 where the id is not here."""
        track_ids = np.asarray(track_ids, dtype=np.int64)
        if self._table is not None:
            at = track_ids - self._first
            inside = (at >= 0) & (at < len(self._table))
            rows = np.full(len(track_ids), -1, dtype=np.int64)
            rows[inside] = self._table[at[inside]]
            return rows
        at = np.minimum(np.searchsorted(self._sorted, track_ids), len(self._sorted) - 1)
        found = self._sorted[at] == track_ids
        return np.where(found, self._order[at], -1).astype(np.int64)

    def __contains__(self, track_id: object) -> bool:
        if not isinstance(track_id, int | np.integer):
            return False
        return int(self.rows_of(np.array([track_id]))[0]) >= 0

    def __getitem__(self, track_id: int) -> int:
        row = int(self.rows_of(np.array([track_id]))[0])
        if row < 0:
            raise KeyError(track_id)
        return row


@dataclass(frozen=True, eq=False)
class TasteSpace:
    """Row-aligned content vectors of every rankable track: standardised features, then the
    unit embedding (zeros where unknown) scaled so that both parts weigh about the same, then a
    has-embedding flag.

    A view, not a copy: it keeps the statistics to standardise the features and where each
    analysed track's embedding is, and makes vectors a block of rows at a time from the arrays
    it was built on (the snapshot's, mapped and shared by every process). Why: materialised,
    the space of 10M tracks is 400 MB of features per process, and 5 GB once any track has an
    embedding (129 mostly zero floats a track).
    """

    ids: np.ndarray  # int64 (n,)
    source: np.ndarray  # (n, F) the features it was built on, not standardised
    columns: np.ndarray  # int64 (f,): the columns of ``source`` that the space uses
    mean: np.ndarray  # float32 (f,)
    scale: np.ndarray  # float32 (f,): 1 / (std * sqrt(f))
    embedded_rows: np.ndarray  # int64 (m,), sorted: the rows that have an embedding
    embedding_source: np.ndarray  # (M, d) the embedding table's vectors
    embedding_at: np.ndarray  # int64 (m,): each embedded row's vector in ``embedding_source``
    embedding_scale: np.ndarray  # float32 (m,): the weight over the vector's norm
    row_of: RowLookup

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        features: np.ndarray,
        embeddings: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        columns: Sequence[int] | None = None,
        embedding_weight: float = 1.0,
    ) -> "TasteSpace":
        """``features`` (n, F) with the ``columns`` to use (all by default); ``embeddings`` is
        (track ids (m,), vectors (m, d)) of the analysed tracks, as the embedding table holds
        them. Statistics are taken a column at a time: no copy of the features."""
        used = np.arange(features.shape[1]) if columns is None else np.asarray(columns)
        mean = np.zeros(len(used), np.float32)
        std = np.ones(len(used), np.float32)
        if len(features):
            for i, column in enumerate(used.tolist()):
                values = np.asarray(features[:, column], dtype=np.float32)
                mean[i], std[i] = values.mean(), values.std()
        std = np.where(std > 1e-6, std, 1.0).astype(np.float32)
        scale = (1.0 / (std * np.sqrt(max(len(used), 1)))).astype(np.float32)
        ids = np.asarray(ids, dtype=np.int64)
        lookup = RowLookup(ids)
        rows, at = np.zeros(0, np.int64), np.zeros(0, np.int64)
        vectors, weights = np.zeros((0, 0), np.float32), np.zeros(0, np.float32)
        if embeddings is not None and len(embeddings[0]):
            vectors = embeddings[1]
            found = lookup.rows_of(np.asarray(embeddings[0], dtype=np.int64))
            at = np.flatnonzero(found >= 0)
            at = at[np.argsort(found[at], kind="stable")]
            rows = found[at]
            squares = np.einsum("ij,ij->i", vectors, vectors)  # per row, without an (m, d) copy
            norms = np.sqrt(squares[at])
            weights = (embedding_weight / np.maximum(norms, 1e-12)).astype(np.float32)
        return cls(ids, features, used, mean, scale, rows, vectors, at, weights, lookup)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def width(self) -> int:
        """f features, then d embedding dimensions and the flag when there is an embedding
        table."""
        table = self.embedding_source
        return len(self.columns) + (table.shape[1] + 1 if len(table) else 0)

    def vectors(self, rows: np.ndarray) -> np.ndarray:
        """Dense (len(rows), width) float32 vectors of ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        f = len(self.columns)
        out = np.zeros((len(rows), self.width), np.float32)
        self._standardised_into(out, rows)
        if len(self.embedded_rows):
            place = np.searchsorted(self.embedded_rows, rows)
            place = np.minimum(place, len(self.embedded_rows) - 1)
            has = self.embedded_rows[place] == rows
            place = place[has]
            vectors = np.asarray(self.embedding_source[self.embedding_at[place]], np.float32)
            out[has, f:-1] = vectors * self.embedding_scale[place, None]
            out[has, -1] = 0.5
        return out

    def _standardised_into(self, out: np.ndarray, rows: np.ndarray | slice) -> None:
        """The standardised features of ``rows`` into the first f columns of ``out``."""
        for i, column in enumerate(self.columns.tolist()):  # one column at a time: no copy
            out[:, i] = (self.source[rows, column] - self.mean[i]) * self.scale[i]

    def score(self, model: "TasteModel", block: int = 1 << 16) -> np.ndarray:
        """``model``'s score of every row, computed a block of rows at a time: every row from
        its features alone by the model restricted to them (a row without an embedding is zero
        beyond them), then the analysed rows again in full. Why: dense vectors of every row are
        mostly zeros, and scoring them took 2-4 s per listener at 10M tracks."""
        out = np.empty(len(self), np.float32)
        f = len(self.columns)
        on_features = model.restricted(f)
        features = np.empty((min(block, len(self)), f), np.float32)
        for start in range(0, len(self), block):
            stop = min(start + block, len(self))
            self._standardised_into(features[: stop - start], slice(start, stop))
            out[start:stop] = on_features.score(features[: stop - start])
        for start in range(0, len(self.embedded_rows), block):
            rows = self.embedded_rows[start : start + block]
            out[rows] = model.score(self.vectors(rows))
        return out

    def rows(self, track_ids: Iterable[int]) -> np.ndarray:
        rows = self.row_of.rows_of(np.fromiter(track_ids, dtype=np.int64))
        return rows[rows >= 0]


class BackgroundRows:
    """The vectors of many rows (the tracks a listener has not rated), made dense only for the
    few that a fit samples: ``len()`` and indexing by an index array, like an array."""

    def __init__(self, space: TasteSpace, rows: np.ndarray) -> None:
        self.space, self.rows = space, rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: np.ndarray) -> np.ndarray:
        return self.space.vectors(self.rows[index])


class TasteModel(Protocol):
    @property
    def name(self) -> str:
        """The model's kind (``logistic``, ``mlp``, ``centroid``); the fitted models are frozen."""
        ...

    def score(self, vectors: np.ndarray) -> np.ndarray:
        """0..1 per vector: how much this listener should like the track."""
        ...

    def restricted(self, dims: int) -> "TasteModel":
        """The same scores for vectors that are zero after their first ``dims`` values, from
        those values alone."""
        ...


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(x, -30, 30))), dtype=np.float32)


@dataclass(frozen=True)
class CentroidTaste:
    positive: np.ndarray
    negative: np.ndarray | None
    name: str = "centroid"

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, w: np.ndarray, **_: object) -> "CentroidTaste":
        def centre(mask: np.ndarray) -> np.ndarray | None:
            if not mask.any():
                return None
            c = (x[mask] * w[mask, None]).sum(axis=0) / w[mask].sum()
            return np.asarray(c / max(float(np.linalg.norm(c)), 1e-12), dtype=np.float32)

        positive = centre(y > 0)
        if positive is None:
            raise InvalidInput("need at least one liked or completed track")
        return cls(positive, centre(y < 0))

    def restricted(self, dims: int) -> "CentroidTaste":
        negative = None if self.negative is None else self.negative[:dims]
        return CentroidTaste(self.positive[:dims], negative)

    def score(self, vectors: np.ndarray) -> np.ndarray:
        norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
        s = vectors @ self.positive / norms
        if self.negative is not None:
            s = s - 0.5 * (vectors @ self.negative) / norms
        return np.asarray(np.clip((s + 1.0) / 2.0, 0.0, 1.0), dtype=np.float32)


@dataclass(frozen=True)
class LogisticTaste:
    weights: np.ndarray
    bias: float
    name: str = "logistic"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        *,
        background: "np.ndarray | BackgroundRows",
        rng: np.random.Generator,
        l2: float = 1.0,
        **_: object,
    ) -> "LogisticTaste":
        """Newton's method on the weighted log-loss; unplayed tracks are weak negatives."""
        x_all, t, sw = _with_background(x, y, w, background, rng, share=0.1)
        d = x_all.shape[1]
        beta = np.zeros(d + 1)
        xb = np.hstack([x_all, np.ones((len(x_all), 1))]).astype(np.float64)
        penalty = l2 * np.eye(d + 1)
        penalty[-1, -1] = 0.0
        for _iteration in range(12):
            p = 1.0 / (1.0 + np.exp(-np.clip(xb @ beta, -30, 30)))
            gradient = xb.T @ (sw * (p - t)) + penalty @ beta
            hessian = (xb * (sw * p * (1 - p))[:, None]).T @ xb + penalty
            step = np.linalg.solve(hessian, gradient)
            beta -= step
            if np.abs(step).max() < 1e-6:
                break
        return cls(beta[:-1].astype(np.float32), float(beta[-1]))

    def restricted(self, dims: int) -> "LogisticTaste":
        return LogisticTaste(self.weights[:dims], self.bias)

    def score(self, vectors: np.ndarray) -> np.ndarray:
        return _sigmoid(vectors @ self.weights + self.bias)


@dataclass(frozen=True)
class MlpTaste:
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: float
    name: str = "mlp"

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        w: np.ndarray,
        *,
        background: "np.ndarray | BackgroundRows",
        rng: np.random.Generator,
        hidden: int = 32,
        epochs: int = 60,
        lr: float = 0.05,
        l2: float = 1e-3,
        **_: object,
    ) -> "MlpTaste":
        """Seed 003: fixed positives; every epoch new negatives drawn from the tracks the
        listener has not rated (as many as the positives), plus the explicit negatives."""
        d = x.shape[1]
        w1 = rng.normal(0, 1 / np.sqrt(d), (d, hidden)).astype(np.float32)
        b1 = np.zeros(hidden, np.float32)
        w2 = rng.normal(0, 1 / np.sqrt(hidden), hidden).astype(np.float32)
        b2 = 0.0
        positives = max(int((y > 0).sum()), 1)
        for _epoch in range(epochs):
            sample = background[rng.integers(0, len(background), min(len(background), positives))]
            xs = np.vstack([x, sample])
            t = np.concatenate([(y > 0).astype(np.float32), np.zeros(len(sample), np.float32)])
            sw = np.concatenate([w, np.full(len(sample), 0.5, np.float32)])
            h = np.maximum(xs @ w1 + b1, 0.0)
            p = _sigmoid(h @ w2 + b2)
            g = sw * (p - t) / sw.sum()  # d loss / d logit
            gh = np.outer(g, w2) * (h > 0)
            w2 -= lr * (h.T @ g + l2 * w2)
            b2 -= lr * float(g.sum())
            w1 -= lr * (xs.T @ gh + l2 * w1)
            b1 -= lr * gh.sum(axis=0)
        return cls(w1, b1, w2, b2)

    def restricted(self, dims: int) -> "MlpTaste":
        return MlpTaste(self.w1[:dims], self.b1, self.w2, self.b2)

    def score(self, vectors: np.ndarray) -> np.ndarray:
        return _sigmoid(np.maximum(vectors @ self.w1 + self.b1, 0.0) @ self.w2 + self.b2)


def _with_background(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    background: "np.ndarray | BackgroundRows",
    rng: np.random.Generator,
    *,
    share: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rated tracks plus up to 200 unrated ones as negatives of weight ``share``."""
    picked = background[rng.choice(len(background), min(len(background), 200), replace=False)]
    x_all = np.vstack([x, picked])
    t = np.concatenate([(y > 0).astype(np.float64), np.zeros(len(picked))])
    sw = np.concatenate([w.astype(np.float64), np.full(len(picked), share)])
    return x_all, t, sw


MODELS = {"centroid": CentroidTaste, "logistic": LogisticTaste, "mlp": MlpTaste}
DEFAULT_MODEL = "logistic"


def fit_taste(
    space: TasteSpace,
    labels: Mapping[int, float],
    *,
    model: str = DEFAULT_MODEL,
    seed: int = 0,
) -> TasteModel | None:
    """Fit ``model`` on labelled tracks of ``space``; None when nothing positive is known yet."""
    if model not in MODELS:
        raise InvalidInput(f"unknown taste model {model!r}", known=sorted(MODELS))
    track_rows = space.row_of.rows_of(np.fromiter(labels.keys(), np.int64, len(labels)))
    label_values = np.fromiter(labels.values(), np.float32, len(labels))
    rows, values = track_rows[track_rows >= 0], label_values[track_rows >= 0]
    if not (values > 0).any():
        return None
    x = space.vectors(rows)
    unrated = np.ones(len(space), bool)
    unrated[rows] = False
    background = BackgroundRows(space, np.flatnonzero(unrated)) if unrated.any() else x
    rng = np.random.default_rng(seed)
    return MODELS[model].fit(  # type: ignore[no-any-return,attr-defined]
        x, np.sign(values), np.abs(values), background=background, rng=rng
    )
