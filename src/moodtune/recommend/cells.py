"""Exact ranking without scanning every track: rows grouped into cells with bounds per cell.

A :class:`CellIndex` splits the rows of a :class:`~moodtune.recommend.TrackMatrix` like a k-d
tree (median splits on the columns that weigh most in a score: heard-mood quadrant
probabilities, tempo, mode, popularity, valence, energy) until each cell holds at most
``leaf_size`` rows, and stores rows cell after cell so a cell is one slice. Each cell keeps the
minimum and maximum of every column a score reads. For one request the search

1. computes an upper bound of the score over each cell from those boxes (feature distance to
   the box, the heard-mood closeness maximised over the probability box on the simplex, the
   popularity band, the listener's best taste in the cell);
2. scores the rows of cells in order of their bound, in growing batches, keeping the k best;
3. stops when the k-th best score is above the bound of every cell not scanned yet.

Scores come from the same :class:`~moodtune.recommend.rank.Scorer` as the exhaustive scan and
ties break by row in both, so the answer is identical to scanning every row; only the work
differs. Requests whose filter leaves few rows (a small genre, a few playable tracks) score
those rows directly; a large genre, and the playable tracks when many, have cells of their own
rows (:class:`GenreCells`), whose bounds are tight for those rows where the catalog's cells mix
them with every other. With a listener's taste, the analysed tracks are searched apart
(:class:`ApartRows`). Rankings by features alone (the ``linear`` and ``table`` presets, no
heard mood) search cells split on the features those presets weigh, ``key`` among them, which
the main cells leave unsplit. Cells of their own are searched in two levels: groups of sibling
cells by the group's bound, then only the cells of a group whose own bound can still win.
"""

from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from moodtune.recommend.mood import feature_preset_weights
from moodtune.recommend.rank import (
    _POPULARITY_WEIGHT,
    _UNKNOWN_POPULARITY_SIMILARITY,
    FEATURES,
    Eligibility,
    ExhaustiveSearch,
    Scorer,
    Search,
    TrackMatrix,
    top_k,
)

__all__ = ["ApartRows", "CellIndex", "GenreCells", "PrunedSearch", "TasteBounds", "with_cells"]

#: Rows per cell: small enough that few rows are scored beyond the answer, large enough that
#: bounding the cells costs far less than scoring (10M rows -> about 10,000 cells). Measured
#: at 10M: 1024 answers journeys and taste requests about twice as fast as 4096.
LEAF_SIZE = 1024
#: Below this many rows a matrix is scanned: cells would not pay for themselves.
MIN_ROWS = 4 * LEAF_SIZE
#: A genre group with at most this many rows is scored row by row, without cells. Measured
#: at 10M: a genre of 44k tracks took 3.3 ms scanned and 1.0 ms by its own cells.
SCAN_ROWS = 8 * LEAF_SIZE
#: Rows per cell of their own (a genre's, the playable tracks', a listener's analysed tracks',
#: the feature cells'): a group of 0.5M rows has few enough cells that tighter bounds pay.
#: Measured at 10M, same requests: p90 of two-genre requests 3.4 -> 2.5 ms, worst playable
#: request 1.8 -> 1.1 ms, journey + taste p50 50 -> 35 ms (0.1 s more per listener's bounds);
#: the main cells at half size made static requests and journeys slower (more cells to bound).
#: Feature cells of 256 rather than 1,024: the preset table's p50 4.2 -> 3.0 ms, p90 7.8 -> 4.7
#: (150 requests, alternating); of 128, p50 6.5 (bounding 131k cells cost more than it saved).
OWN_LEAF_SIZE = LEAF_SIZE // 4
#: A genre's and the playable tracks' cells are four times smaller again. Every cell of its
#: own (these and the feature cells) is searched in groups of ``GROUP`` sibling cells
#: (:meth:`PrunedSearch._best_in_groups`): bounds nearly as cheap as the groups', nearly as
#: tight as the cells'. Measured at 10M, for the 80 best of one genre (pop, edm): the rows in
#: cells whose bound reaches the 80th best fell from 2,766 to 844 on average and from 19,072 to
#: 4,890 at worst with cells of 64 rather than 256, but bounding 16,384 cells instead of 4,096
#: alone took twice as long; in groups, alternating fresh processes, p99 of one genre 1.9 ->
#: 1.6 ms, of the playable tracks 2.0 -> 1.6 ms, and the preset table's p50 4.5 -> 3.1 ms.
SMALL_LEAF_SIZE = OWN_LEAF_SIZE // 4
GROUP = 4
#: Added to every bound: float32 scores round differently from the float64 bounds.
_SLACK = 1e-5
#: Columns the tree splits on, with how much a unit of each tends to move a score.
_SPLIT_FEATURES = {"tempo": 0.5, "mode": 0.3, "valence": 0.2, "energy": 0.2,
                   "danceability": 0.1, "acousticness": 0.1, "loudness": 0.1}  # fmt: skip
_SPLIT_PROBS = 1.0
_SPLIT_POPULARITY = 0.3
_SPLIT_TASTE = 1.0
#: Names of the feature cells and of the playable tracks' cells in the search's caches (no
#: genre can be named so: genres are stored trimmed).
FEATURE_CELLS, PLAYABLE_CELLS = " features", " playable"
#: Names of the two halves of a search with the analysed tracks apart (``TasteBounds``).
TASTE_REST, TASTE_APART = " taste rest", " taste apart"


@dataclass(frozen=True, eq=False)
class CellIndex:
    """Cell ``c`` holds rows ``starts[c]:starts[c + 1]``, with per-column boxes."""

    starts: np.ndarray  # int64 (C + 1,)
    feature_lo: np.ndarray  # float64 (F, C) normalised features, a row per column (*)
    feature_hi: np.ndarray
    probs_lo: np.ndarray  # float64 (4, C) heard-mood quadrant probabilities (*)
    probs_hi: np.ndarray
    popularity_lo: np.ndarray  # float32 (C,), NaN where no row of the cell has one
    popularity_hi: np.ndarray
    popularity_unknown: np.ndarray  # bool (C,): some row of the cell has no popularity
    # (*) the layout a bound reads: a contiguous row per column, in the bound's precision
    # (measured on a genre's 4,096 cells: a bound took 177 us from (C, F) float32 boxes, 75)

    def __len__(self) -> int:
        return len(self.starts) - 1

    @classmethod
    def of_ordered(
        cls, matrix: TrackMatrix, starts: np.ndarray, rows: np.ndarray | None = None
    ) -> "CellIndex":
        """Boxes of the cells ``starts`` over the matrix's rows, already in cell order, or over
        ``rows`` (a genre's rows in cell order; ``starts`` then index into ``rows``)."""

        def take(values: np.ndarray) -> np.ndarray:
            return values if rows is None else values[rows]

        first = starts[:-1]
        popularity = np.asarray(take(matrix.popularity), dtype=np.float32)
        unknown = np.isnan(popularity)
        with np.errstate(invalid="ignore"):
            pop_lo = np.fmin.reduceat(popularity, first)
            pop_hi = np.fmax.reduceat(popularity, first)
        features, probs = take(matrix.features), take(matrix.heard.probs)

        def per_column(box: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(box.T, dtype=np.float64)

        return cls(
            starts=np.asarray(starts, dtype=np.int64),
            feature_lo=per_column(np.minimum.reduceat(features, first, axis=0)),
            feature_hi=per_column(np.maximum.reduceat(features, first, axis=0)),
            probs_lo=per_column(np.minimum.reduceat(probs, first, axis=0)),
            probs_hi=per_column(np.maximum.reduceat(probs, first, axis=0)),
            popularity_lo=pop_lo,
            popularity_hi=pop_hi,
            popularity_unknown=np.logical_or.reduceat(unknown, first),
        )

    def taste_max(self, taste: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Each cell's best taste score (cells over ``rows`` when given): one pass over the
        rows, worth caching with the listener's scores (``RankQuery.taste_cell_max``)."""
        values = taste if rows is None else taste[rows]
        # the max is exact in the scores' own precision: no float64 copy of every row
        return np.maximum.reduceat(values, self.starts[:-1]).astype(np.float64)

    def search(self, matrix: TrackMatrix, scorer: Scorer, eligible: Eligibility) -> Search:
        return PrunedSearch(matrix, self, scorer, eligible)

    def upper_bounds(
        self,
        scorer: Scorer,
        step: int,
        taste_max: np.ndarray | None,
        which: np.ndarray | None = None,
    ) -> np.ndarray:
        """float64 (C,): no row of a cell scores above its bound for target ``step``; of the
        cells ``which`` only when given (``taste_max`` then holds theirs)."""

        def of(box: np.ndarray) -> np.ndarray:
            return box if which is None else box[..., which]

        share = scorer.heard_weight
        bound = np.zeros(len(self) if which is None else len(which))
        if share < 1.0:
            weights = scorer.weights[step]
            distance = np.zeros(len(bound))
            for j in scorer.used[step]:  # the features this target scores
                target = float(scorer.targets[step, j])
                # how far the target lies outside each cell's box on this feature
                gap = np.maximum(of(self.feature_lo[j]) - target, target - of(self.feature_hi[j]))
                np.maximum(gap, 0.0, out=gap)
                gap *= gap
                gap *= float(weights[j])
                distance += gap
            distance /= max(float(weights.sum()), 1e-9)
            np.sqrt(distance, out=distance)
            bound += (1.0 - distance) * (1.0 - share)
        if scorer.kernels is not None:
            bound += share * _best_mixture(
                scorer.kernels[step].astype(np.float64), of(self.probs_lo), of(self.probs_hi)
            )
        if scorer.popularity_target is not None:
            popularity = _popularity_bound(
                scorer.popularity_target,
                of(self.popularity_lo), of(self.popularity_hi), of(self.popularity_unknown),
            )  # fmt: skip
            bound = (1.0 - _POPULARITY_WEIGHT) * bound + _POPULARITY_WEIGHT * popularity
        if taste_max is not None:
            bound = (1.0 - scorer.taste_weight) * bound + scorer.taste_weight * taste_max
        return bound + _SLACK

    def grouped(self, size: int) -> "CellIndex":
        """Cells of ``size`` consecutive cells each (the last may hold fewer), with the union
        of their boxes: the same boxes as if computed from their rows."""
        first = np.arange(0, len(self), size)
        with np.errstate(invalid="ignore"):  # a group whose rows all lack popularity
            pop_lo = np.fmin.reduceat(self.popularity_lo, first)
            pop_hi = np.fmax.reduceat(self.popularity_hi, first)
        return CellIndex(
            starts=np.append(self.starts[first], self.starts[-1]),
            feature_lo=np.minimum.reduceat(self.feature_lo, first, axis=1),
            feature_hi=np.maximum.reduceat(self.feature_hi, first, axis=1),
            probs_lo=np.minimum.reduceat(self.probs_lo, first, axis=1),
            probs_hi=np.maximum.reduceat(self.probs_hi, first, axis=1),
            popularity_lo=pop_lo,
            popularity_hi=pop_hi,
            popularity_unknown=np.logical_or.reduceat(self.popularity_unknown, first),
        )


def _popularity_bound(
    target: float, lo: np.ndarray, hi: np.ndarray, unknown: np.ndarray
) -> np.ndarray:
    """Best popularity similarity in each cell: 1 when the band's target is inside the cell's
    range (``lo``..``hi``), else that of the nearer end; unknown popularity counts as its fixed
    similarity."""
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    gap = np.maximum(np.maximum(lo - target, target - hi), 0.0)
    known = 1.0 - gap / 100.0
    best = np.where(np.isnan(known), -np.inf, known)
    return np.where(unknown, np.maximum(best, _UNKNOWN_POPULARITY_SIMILARITY), best)


def _best_mixture(kernels: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """max Σ_q k_q p_q over probabilities with lo ≤ p ≤ hi and Σ p = 1, per cell (a column of
    ``lo`` and ``hi``): start from the lower ends and give the rest of the mass to the largest
    kernels first (a greedy solution of this small linear programme is optimal)."""
    best = kernels @ lo
    rest = np.maximum(1.0 - lo.sum(axis=0), 0.0)
    for q in np.argsort(-kernels).tolist():
        add = np.minimum(hi[q] - lo[q], rest)
        best += kernels[q] * add
        rest -= add
    return np.asarray(best)


@dataclass(frozen=True, eq=False)
class GenreCells:
    """Cells of their own over some rows (a large genre's, or all for the feature cells): the
    rows in cell order, and boxes over those rows only."""

    rows: np.ndarray  # int64: rows of the genre, cell after cell
    cells: CellIndex  # its ``starts`` index into ``rows``
    groups: CellIndex  # every ``GROUP`` consecutive cells (siblings in the tree) as one

    @classmethod
    def of(cls, rows: np.ndarray, cells: CellIndex) -> "GenreCells":
        """With the groups made from the cells' boxes (milliseconds, when a snapshot is
        loaded: the first request of each genre paid for them when made lazily)."""
        return cls(rows, cells, cells.grouped(GROUP))


@dataclass(frozen=True, eq=False)
class ApartRows:
    """Rows searched apart from the catalog's cells when a listener's taste is in the score
    (the analysed tracks), as a sorted row list and a mask over all rows.

    Why: a taste learned from likes is smooth over the features, so a cell of similar tracks
    has a tight best taste, but an analysed track's embedding moves its taste whatever its
    features: a few analysed tracks in every cell lifted every cell's taste bound (measured at
    10M tracks with 5 % analysed: taste p99 34 ms, journey + taste 124 ms). Apart, the catalog's
    cells keep tight bounds, and the analysed tracks get cells split on each listener's taste
    as well as on the features (:meth:`bounds`), so that their bounds are tight too.
    """

    rows: np.ndarray  # int64, sorted
    mask: np.ndarray  # bool (n,): True for ``rows``

    @classmethod
    def of(cls, matrix: TrackMatrix, rows: np.ndarray) -> "ApartRows | None":
        """None when the matrix has no cells or ``rows`` is empty: nothing to split."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if matrix.cells is None or not len(rows):
            return None
        mask = np.zeros(len(matrix), dtype=bool)
        mask[rows] = True
        return cls(rows, mask)

    def bounds(
        self,
        matrix: TrackMatrix,
        taste: np.ndarray,
        leaf_size: int = OWN_LEAF_SIZE,
    ) -> "TasteBounds":
        """One listener's cells of the rows apart and the best taste per cell of each half,
        cached with their scores (0.6 s and 4 MB per 500k analysed tracks, measured at 10M)."""
        assert matrix.cells is not None
        order, starts = cell_order(matrix, leaf_size, self.rows, taste=taste)
        cells = CellIndex.of_ordered(matrix, starts, order)
        rest = np.where(self.mask, np.float32(-np.inf), taste)
        return TasteBounds(
            self,
            GenreCells.of(order, cells),
            matrix.cells.taste_max(rest),
            cells.taste_max(taste, order),
        )


@dataclass(frozen=True, eq=False)
class TasteBounds:
    """A listener's cells of the rows apart, and the best taste in each of the catalog's cells
    over the rows not apart (-inf where a cell holds only those) and in each cell apart."""

    apart: ApartRows
    cells: GenreCells
    rest_max: np.ndarray  # float64 (C,)
    apart_max: np.ndarray  # float64 (cells of ``cells``,)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.cells.rows, self.rest_max, self.apart_max))


class PrunedSearch(Search):
    """Cells in order of their bound, scored in growing batches until none can beat the k-th."""

    def __init__(
        self, matrix: TrackMatrix, cells: CellIndex, scorer: Scorer, eligible: Eligibility
    ) -> None:
        self.matrix, self.cells, self.scorer, self.eligible = matrix, cells, scorer, eligible
        self._scan = ExhaustiveSearch(matrix, scorer, eligible)
        self._groups: dict[str | None, tuple[np.ndarray | None, np.ndarray, np.ndarray]] = {}
        self._bounds: dict[tuple[str | None, int], np.ndarray] = {}
        self._taste_max: dict[str | None, np.ndarray | None] = {}

    def top(self, step: int, genre: str | None, k: int) -> tuple[np.ndarray, np.ndarray]:
        if genre is None and len(self.eligible.genres) > 1 and not self.eligible.playable_only:
            return self._top_of_union(step, k)
        own = self._own_cells(genre)
        if own is not None:
            return self._best_in_groups(step, k, *own)
        feature_cells = self.matrix.feature_cells
        if (feature_cells is not None and self.scorer.kernels is None and genre is None
                and not self.eligible.genres and not self.eligible.playable_only):  # fmt: skip
            return self._best_in_groups(step, k, FEATURE_CELLS, feature_cells)
        group_rows, first, last = self._group(genre)
        if group_rows is not None and len(group_rows) <= SCAN_ROWS:
            return self._scan.top(step, genre, k)
        if group_rows is None and self.scorer.taste_bounds is not None:
            return self._top_with_apart(step, k, self.scorer.taste_bounds)
        return self._best(step, k, None, self.cells, group_rows, first, last)

    def _top_with_apart(
        self, step: int, k: int, taste: "TasteBounds"
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best of the rows apart, then of the others in the catalog's cells, started
        from the first k best (a high k-th score from the start prunes more cells)."""
        starts = taste.cells.cells.starts
        best = self._best(step, k, TASTE_APART, taste.cells.cells, taste.cells.rows,
                          starts[:-1], starts[1:])  # fmt: skip
        return self._best(step, k, TASTE_REST, self.cells, None, self.cells.starts[:-1],
                          self.cells.starts[1:], found=best, skip=taste.apart.mask)  # fmt: skip

    def _top_of_union(self, step: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k best of several genres: the k best of each (own cells, or a direct scan when
        small), merged; a track in two genres is counted once (it has one score)."""
        tops = [self.top(step, g, k) for g in self.eligible.genres]
        rows = np.concatenate([r for r, _ in tops])
        scores = np.concatenate([s for _, s in tops])
        rows, first = np.unique(rows, return_index=True)
        return top_k(rows, scores[first], k)

    def _own_cells(self, genre: str | None) -> tuple[str, GenreCells] | None:
        """Cells of the group's own rows: one large genre's, or the playable tracks' when the
        group is all of them (a genre narrowed to its playable tracks has neither)."""
        name = genre if genre is not None else (
            self.eligible.genres[0] if len(self.eligible.genres) == 1 else None
        )  # fmt: skip
        if self.eligible.playable_only:
            playable = self.matrix.playable_cells
            return (PLAYABLE_CELLS, playable) if name is None and playable is not None else None
        if name is None or name not in self.matrix.genre_cells:
            return None
        return name, self.matrix.genre_cells[name]

    def _best(
        self,
        step: int,
        k: int,
        name: str | None,
        cells: CellIndex,
        rows_of: np.ndarray | None,
        first: np.ndarray,
        last: np.ndarray,
        found: tuple[np.ndarray, np.ndarray] | None = None,
        skip: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best eligible rows of ``cells`` (the catalog's, ``name`` None, a genre's, the
        ``FEATURE_CELLS``, or a half of a split taste search), cell ``c`` holding
        ``rows_of[first[c]:last[c]]`` (rows themselves when None), merged with the k best
        ``found`` elsewhere; rows where ``skip`` is True are left out (searched elsewhere)."""
        if (name, step) not in self._bounds:
            self._bounds[(name, step)] = cells.upper_bounds(
                self.scorer, step, self._taste_max_of(name, cells, rows_of)
            )
        bounds = np.where(last > first, self._bounds[(name, step)], -np.inf)
        best_rows, best_scores = found if found is not None else (
            np.zeros(0, np.int64), np.zeros(0, np.float32)
        )  # fmt: skip
        for chosen in _best_cells_first(bounds):
            threshold = best_scores[-1] if len(best_scores) >= k else -np.inf
            if not bounds[chosen[0]] >= threshold or bounds[chosen[0]] == -np.inf:
                break
            chosen = chosen[bounds[chosen] >= threshold]  # the batch's tail may be beaten
            rows = _ranges(first[chosen], last[chosen])
            if rows_of is not None:
                rows = rows_of[rows]
            if skip is not None:
                rows = rows[~skip[rows]]
            best_rows, best_scores = self._scored_into(step, k, rows, threshold, best_rows,
                                                       best_scores)  # fmt: skip
        return best_rows, best_scores

    def _best_in_groups(
        self, step: int, k: int, name: str, own: GenreCells
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best eligible rows of cells of their own, searched in two levels: groups of
        sibling cells in order of the group's bound, then in each group only the cells whose
        own bound can still reach the k-th best."""
        cells, starts = own.cells, own.cells.starts
        taste = self._taste_max_of(name, cells, own.rows)
        if (name, step) not in self._bounds:
            group_taste = None if taste is None else np.maximum.reduceat(
                taste, np.arange(0, len(cells), GROUP)
            )  # fmt: skip
            self._bounds[(name, step)] = own.groups.upper_bounds(self.scorer, step, group_taste)
        bounds = self._bounds[(name, step)]
        best_rows, best_scores = np.zeros(0, np.int64), np.zeros(0, np.float32)
        for chosen in _best_cells_first(bounds):
            threshold = best_scores[-1] if len(best_scores) >= k else -np.inf
            if not bounds[chosen[0]] >= threshold:
                break
            chosen = chosen[bounds[chosen] >= threshold]
            members = _ranges(GROUP * chosen, np.minimum(GROUP * chosen + GROUP, len(cells)))
            if threshold > -np.inf:  # until k rows are found every cell is needed
                member_taste = None if taste is None else taste[members]
                fits = cells.upper_bounds(self.scorer, step, member_taste, members)
                members = members[fits >= threshold]
            rows = own.rows[_ranges(starts[members], starts[members + 1])]
            best_rows, best_scores = self._scored_into(step, k, rows, threshold, best_rows,
                                                       best_scores)  # fmt: skip
        return best_rows, best_scores

    def _scored_into(
        self,
        step: int,
        k: int,
        rows: np.ndarray,
        threshold: float,
        best_rows: np.ndarray,
        best_scores: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The k best of ``best_*`` and the eligible ``rows``, scored."""
        rows = self.eligible.keep(self.matrix, rows)
        scores = self.scorer(step, rows)
        if threshold > -np.inf:  # below the k-th no row can enter; a tie can (lower row)
            better = scores >= threshold
            rows, scores = rows[better], scores[better]
        return top_k(np.concatenate([best_rows, rows]), np.concatenate([best_scores, scores]), k)

    def _taste_max_of(
        self, name: str | None, cells: CellIndex, rows_of: np.ndarray | None
    ) -> np.ndarray | None:
        """Each cell's best taste (the listener's cached one for the catalog's cells)."""
        taste = self.scorer.taste
        if taste is None:
            return None
        split = self.scorer.taste_bounds
        if split is not None and name in (TASTE_REST, TASTE_APART):
            return split.rest_max if name == TASTE_REST else split.apart_max
        if name not in self._taste_max:
            if name is None and self.scorer.taste_cell_max is not None:
                self._taste_max[name] = self.scorer.taste_cell_max
            else:
                self._taste_max[name] = cells.taste_max(taste, None if name is None else rows_of)
        return self._taste_max[name]

    def _group(self, genre: str | None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """The group's sorted rows (None: all) and where each cell's part of them starts and
        ends (positions in that array, or rows when None)."""
        if genre not in self._groups:
            rows = self.eligible.group_rows(self.matrix, genre)
            starts = self.cells.starts
            if rows is None:
                self._groups[genre] = (None, starts[:-1], starts[1:])
            else:
                edges = np.searchsorted(rows, starts)
                self._groups[genre] = (rows, edges[:-1], edges[1:])
        return self._groups[genre]


def _best_cells_first(bounds: np.ndarray, batch: int = 8) -> Iterator[np.ndarray]:
    """Cells highest bound first, in batches that double from ``batch``: most searches stop
    within the first few dozen of thousands of cells, and one that runs long takes few steps
    (a big genre's 120 small cells took 15 batches of 8; with doubling, 10M-track p99 fell by
    up to a quarter, journey + taste 53 -> 41 ms, p50 unchanged). Sorts only as far as it is
    asked."""
    head = min(len(bounds), 256)
    top = np.argpartition(-bounds, head - 1)[:head] if head < len(bounds) else np.arange(head)
    order = top[np.argsort(-bounds[top], kind="stable")]
    start = 0
    while start < len(bounds):
        if start == len(order):  # the first cells are used up: sort the rest
            rest = np.setdiff1d(np.arange(len(bounds)), top, assume_unique=True)
            order = np.concatenate([order, rest[np.argsort(-bounds[rest], kind="stable")]])
        stop = min(start + batch, len(order))
        yield order[start:stop]
        start, batch = stop, 2 * batch


def _ranges(first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(first[i], last[i])`` without a Python loop."""
    lengths = last - first
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(first - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
    return (offsets + np.arange(total)).astype(np.int64)


def cell_order(
    matrix: TrackMatrix,
    leaf_size: int = LEAF_SIZE,
    rows: np.ndarray | None = None,
    features_only: dict[str, float] | None = None,
    taste: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """An order of the rows (or of ``rows``) that puts each cell's rows together, and the
    cells' starts (positions in that order).

    Median splits, k-d tree style, each on the column with the widest weighted range in that
    cell; a loop over cells (a few thousand at 10M rows), numpy inside. The columns are the
    features, heard-mood probabilities and popularity that weigh most in a score, or only the
    features ``features_only`` with their weights; with a listener's ``taste`` (per row of
    the matrix), that too.
    """

    def take(values: np.ndarray) -> np.ndarray:
        return values if rows is None else values[rows]

    features = take(matrix.features)
    split = _SPLIT_FEATURES if features_only is None else features_only
    columns: list[np.ndarray] = [features[:, FEATURES.index(f)] * w for f, w in split.items()]
    if features_only is None:
        probs = take(matrix.heard.probs)
        columns += [probs[:, q] * _SPLIT_PROBS for q in range(probs.shape[1])]
        popularity = np.asarray(take(matrix.popularity), np.float32) / 100.0
        columns.append(np.nan_to_num(popularity, nan=0.5) * _SPLIT_POPULARITY)
    if taste is not None:
        columns.append(np.asarray(take(taste), np.float32) * _SPLIT_TASTE)
    data = np.stack(columns, axis=1).astype(np.float32)  # (n, D)
    order = np.arange(len(data), dtype=np.int64)
    pending, starts = [(0, len(data))], [0]
    while pending:
        begin, end = pending.pop()
        if end - begin <= leaf_size:
            continue
        part = order[begin:end]
        sample = data[part[:: max(1, len(part) // 2048)]]  # the widest axis, from a sample
        axis = int(np.argmax(sample.max(axis=0) - sample.min(axis=0)))
        middle = (end - begin) // 2
        order[begin:end] = part[np.argpartition(data[part, axis], middle)]
        starts.append(begin + middle)
        pending += [(begin, begin + middle), (begin + middle, end)]
    ordered = order if rows is None else np.asarray(rows, dtype=np.int64)[order]
    return ordered, np.array(sorted(starts) + [len(data)], dtype=np.int64)


def permuted(matrix: TrackMatrix, order: np.ndarray) -> TrackMatrix:
    """The same matrix with its rows in ``order`` (genre row lists mapped and sorted)."""
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    counts = np.diff(matrix.artist_ptr)[order]
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    artist_codes = matrix.artist_codes[
        _ranges(matrix.artist_ptr[order], matrix.artist_ptr[order + 1])
    ]
    heard = matrix.heard
    return replace(
        matrix,
        ids=matrix.ids[order],
        values=matrix.values[order],
        features=np.asfortranarray(matrix.features[order]),
        popularity=matrix.popularity[order],
        explicit=matrix.explicit[order],
        artist_ptr=ptr,
        artist_codes=artist_codes,
        song_codes=matrix.song_codes[order],
        heard=type(heard)(
            np.asfortranarray(heard.probs[order]), heard.point[order], heard.spread[order]
        ),
        heard_from_audio=matrix.heard_from_audio[order],
        non_music=matrix.non_music[order],
        genres={g: np.sort(position[rows]) for g, rows in matrix.genres.items()},
        playable=None if matrix.playable is None else matrix.playable[order],
        cells=None,
        genre_cells={},
        feature_cells=None,
        playable_cells=None,
    )


def with_cells(matrix: TrackMatrix, leaf_size: int = LEAF_SIZE) -> TrackMatrix:
    """The matrix in cell order with its :class:`CellIndex`, cells of their own (of
    ``SMALL_LEAF_SIZE`` rows) for the genres and the playable tracks when more than
    ``SCAN_ROWS`` rows, and the feature cells (all rows, split on the features that presets
    without heard mood weigh, of ``OWN_LEAF_SIZE`` rows); unchanged when too small."""
    if len(matrix) < max(MIN_ROWS, 2 * leaf_size):
        return matrix
    order, starts = cell_order(matrix, leaf_size)
    ordered = permuted(matrix, order)
    genre_cells = {}
    for name, rows in ordered.genres.items():
        if len(rows) > SCAN_ROWS:
            genre_cells[name] = _cells_of_rows(ordered, SMALL_LEAF_SIZE, rows)
    playable = ordered.playable_rows
    return replace(
        ordered,
        cells=CellIndex.of_ordered(ordered, starts),
        genre_cells=genre_cells,
        feature_cells=_cells_of_rows(ordered, OWN_LEAF_SIZE, None, feature_preset_weights()),
        playable_cells=(
            _cells_of_rows(ordered, SMALL_LEAF_SIZE, playable)
            if len(playable) > SCAN_ROWS
            else None
        ),
    )


def _cells_of_rows(
    matrix: TrackMatrix,
    leaf_size: int,
    rows: np.ndarray | None,
    features_only: dict[str, float] | None = None,
) -> GenreCells:
    """Cells of their own over ``rows`` (all rows when None), kept as a row list in cell order:
    the matrix itself stays in the order of its main cells."""
    order, starts = cell_order(matrix, leaf_size, rows, features_only)
    return GenreCells.of(order, CellIndex.of_ordered(matrix, starts, order))
