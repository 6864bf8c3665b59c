"""The bounded search over cells returns exactly the exhaustive scan's list, for every request
type, on a million tracks resampled from the real catalog; and its bounds really bound."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from moodtune.catalog.index import CatalogSnapshot
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend import EMOTIONS, FEATURES, STRATEGIES, RankQuery, TrackMatrix, rank
from moodtune.recommend.cells import (
    GROUP,
    SCAN_ROWS,
    ApartRows,
    CellIndex,
    _best_cells_first,
    _best_mixture,
    _ranges,
    with_cells,
)
from moodtune.recommend.rank import Scorer
from moodtune.recommend.similar import EmbeddingTable
from moodtune.recommend.synthetic import resample
from moodtune.recommend.taste import LogisticTaste, TasteSpace
from moodtune.service import ListenerTaste
from tests.unit.recommend.conftest import query_for

GENRES = ("rock", "pop", "edm", "jazz", "latin", "r&b", "classical", "ambient")


@pytest.fixture(scope="module")
def million(real_matrix: TrackMatrix) -> TrackMatrix:
    return with_cells(resample(real_matrix, 1_000_000, seed=7, playable_share=0.05))


def _taste(matrix: TrackMatrix, rng: np.random.Generator) -> np.ndarray:
    """A listener's logistic taste over the features, as the service computes it."""
    model = LogisticTaste(rng.normal(0.0, 1.5, matrix.features.shape[1]).astype(np.float32), -0.5)
    features = np.asarray(matrix.features)
    z = (features - features.mean(axis=0)) / features.std(axis=0)
    return model.score(np.ascontiguousarray(z, dtype=np.float32))


def _queries(matrix: TrackMatrix, count: int, seed: int) -> list[RankQuery]:
    """Every request type: each strategy, static and journey, the heard preset and the presets
    by features alone (a table, a linear mapping), filtered by one or several genres,
    popularity, explicit, with taste."""
    rng = np.random.default_rng(seed)
    queries = []
    for i in range(count):
        emotions = dict(zip(EMOTIONS, rng.dirichlet(np.full(7, 0.3)).tolist(), strict=True))
        strategy = STRATEGIES[i % 4]
        n = int(rng.integers(5, 30))
        extra: dict[str, object] = {}
        if i % 3 == 1:
            count = 1 + (i // 3) % 2  # one genre (its own cells) or two (the catalog's)
            extra["genres"] = tuple(rng.choice(GENRES, count, replace=False).tolist())
        if i % 3 == 2:
            extra["popularity"] = ("mainstream", "medium", "low")[i % 3]
        if i % 4 == 1:
            extra["allow_explicit"] = False
        if i % 7 == 3:
            extra["playable_only"] = True
        if i % 6 == 5:
            extra |= {"taste": _taste(matrix, rng), "taste_weight": (0.3, 0.6)[i % 2]}
        preset = "heard" if i % 5 else ("seed002", "russell")[i // 5 % 2]
        queries.append(query_for(emotions, strategy, n, preset, seed=i, **extra))
    return queries


def test_the_cells_cover_every_row_once(million: TrackMatrix) -> None:
    cells = million.cells
    assert cells is not None and len(cells) > 100
    assert cells.starts[0] == 0 and cells.starts[-1] == len(million)
    assert np.all(np.diff(cells.starts) > 0)
    assert np.array_equal(np.sort(million.ids), np.arange(1, len(million) + 1))


def test_bounds_are_above_every_score_in_their_cell(million: TrackMatrix) -> None:
    cells = million.cells
    assert cells is not None
    for query in _queries(million, 12, seed=1):
        scorer = Scorer(million, query)
        taste_max = cells.taste_max(query.taste) if query.taste is not None else None
        for step in (0, len(query.targets) - 1):
            scores = scorer(step, None)
            best = np.maximum.reduceat(scores, cells.starts[:-1])
            assert np.all(cells.upper_bounds(scorer, step, taste_max) >= best)


def test_large_genres_have_cells_of_their_own_rows_with_bounds_that_hold(
    million: TrackMatrix,
) -> None:
    assert set(million.genre_cells) == {g for g, r in million.genres.items() if len(r) > SCAN_ROWS}
    assert len(million.genre_cells) >= 3
    query = _queries(million, 6, seed=5)[5]  # with taste
    scorer = Scorer(million, query)
    for name, own in million.genre_cells.items():
        assert np.array_equal(np.sort(own.rows), million.genres[name])
        starts = own.cells.starts
        assert starts[0] == 0 and starts[-1] == len(own.rows)
        scores = scorer(0, own.rows)
        best = np.maximum.reduceat(scores, starts[:-1])
        taste_max = own.cells.taste_max(query.taste, own.rows)  # type: ignore[arg-type]
        assert np.all(own.cells.upper_bounds(scorer, 0, taste_max) >= best)


def test_groups_of_cells_have_the_boxes_of_their_rows_and_bounds_over_any_cells_agree(
    million: TrackMatrix,
) -> None:
    """The two-level search bounds groups of sibling cells from their cells' boxes, then some
    of the cells alone: both must be what the rows and the whole bound give."""
    own = million.genre_cells["pop"]
    groups = own.groups
    starts = own.cells.starts
    assert groups.starts.tolist() == [*starts[:-1:GROUP].tolist(), starts[-1]]
    from_rows = CellIndex.of_ordered(million, groups.starts, own.rows)
    for name in ("feature_lo", "feature_hi", "probs_lo", "probs_hi", "popularity_unknown"):
        assert np.array_equal(getattr(groups, name), getattr(from_rows, name)), name
    for name in ("popularity_lo", "popularity_hi"):
        assert np.array_equal(getattr(groups, name), getattr(from_rows, name), equal_nan=True)
    some = np.random.default_rng(4).choice(len(own.cells), 50, replace=False)
    for query in _queries(million, 9, seed=6):
        scorer = Scorer(million, query)
        taste = own.cells.taste_max(query.taste, own.rows) if query.taste is not None else None
        whole = own.cells.upper_bounds(scorer, 0, taste)
        part = own.cells.upper_bounds(scorer, 0, None if taste is None else taste[some], some)
        # equal but for float64 rounding (a matrix product by another path), far below _SLACK
        np.testing.assert_allclose(part, whole[some], rtol=0, atol=1e-12)


def test_the_feature_cells_hold_every_row_and_bound_rankings_without_heard_mood(
    million: TrackMatrix,
) -> None:
    """Presets without heard mood weigh ``key``, which the main cells never split on."""
    own = million.feature_cells
    assert own is not None and np.array_equal(np.sort(own.rows), np.arange(len(million)))
    starts = own.cells.starts
    key = million.features[own.rows, FEATURES.index("key")]
    within = [np.ptp(key[a:b]) for a, b in zip(starts[:-1], starts[1:], strict=True)]
    assert np.median(within) < 0.5, "cells split on key"
    for preset in ("seed002", "russell"):
        query = query_for("sad", "uplift", 10, preset, seed=1)
        scorer = Scorer(million, query)
        assert scorer.kernels is None
        best = np.maximum.reduceat(scorer(0, own.rows), starts[:-1])
        assert np.all(own.cells.upper_bounds(scorer, 0, None) >= best)


@pytest.fixture(scope="module")
def many_playable(million: TrackMatrix) -> TrackMatrix:
    """A tenth of the tracks playable: more than are scored directly."""
    playable = np.random.default_rng(3).random(len(million)) < 0.1
    return with_cells(replace(million, playable=playable))


def test_many_playable_tracks_have_cells_of_their_own_that_rank_exactly(
    many_playable: TrackMatrix, tmp_path: Path
) -> None:
    own = many_playable.playable_cells
    assert own is not None and np.array_equal(np.sort(own.rows), many_playable.playable_rows)
    store = SnapshotStore(tmp_path)
    empty = EmbeddingTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
    store.write("k", (len(many_playable), None), many_playable, empty)
    files = store.read("k", heard_model=many_playable.heard_model)
    assert files is not None and files.matrix.playable_cells is not None
    assert np.array_equal(files.matrix.playable_cells.rows, own.rows)
    for query in _queries(many_playable, 12, seed=4):
        query = replace(query, playable_only=True)
        scorer = Scorer(many_playable, query)
        best = np.maximum.reduceat(scorer(0, own.rows), own.cells.starts[:-1])
        taste_max = None if query.taste is None else own.cells.taste_max(query.taste, own.rows)
        assert np.all(own.cells.upper_bounds(scorer, 0, taste_max) >= best)
        scanned = [(t.id, t.score) for t in rank(many_playable, query, exhaustive=True)]
        assert [(t.id, t.score) for t in rank(many_playable, query)] == scanned
        assert [(t.id, t.score) for t in rank(files.matrix, query)] == scanned


@pytest.mark.parametrize("seed", [11, 12])
def test_the_bounded_search_gives_the_exhaustive_list(million: TrackMatrix, seed: int) -> None:
    for query in _queries(million, 24, seed=seed):
        pruned = rank(million, query)
        scanned = rank(million, query, exhaustive=True)
        assert [(t.id, t.score) for t in pruned] == [(t.id, t.score) for t in scanned]
        assert [t.reasons for t in pruned] == [t.reasons for t in scanned]


@pytest.fixture(scope="module")
def analysed(million: TrackMatrix) -> TasteSpace:
    """The service's taste space with the playable 5 % analysed (random embeddings)."""
    rows = million.playable_rows
    vectors = np.random.default_rng(3).normal(0.0, 1.0, (len(rows), 32)).astype(np.float32)
    return TasteSpace.build(million.ids, million.features, (million.ids[rows], vectors),
                            columns=million.taste_columns())  # fmt: skip


def test_with_the_analysed_tracks_apart_the_search_gives_the_exhaustive_list(
    million: TrackMatrix, analysed: TasteSpace
) -> None:
    apart = ApartRows.of(million, analysed.embedded_rows)
    assert apart is not None
    assert apart.mask.sum() == len(million.playable_rows)
    rng = np.random.default_rng(21)
    for i, query in enumerate(_queries(million, 36, seed=21)):
        model = LogisticTaste(rng.normal(0.0, 1.5, analysed.width).astype(np.float32), -0.5)
        taste = analysed.score(model)
        bounds = apart.bounds(million, taste)
        own = bounds.cells  # this listener's cells of the analysed tracks
        assert np.array_equal(np.sort(own.rows), apart.rows)
        assert np.all(
            bounds.apart_max == np.maximum.reduceat(taste[own.rows], own.cells.starts[:-1])
        )
        query = replace(query, taste=taste, taste_weight=(0.3, 0.6)[i % 2], taste_bounds=bounds)
        pruned = rank(million, query)
        scanned = rank(million, query, exhaustive=True)
        assert [(t.id, t.score) for t in pruned] == [(t.id, t.score) for t in scanned]


def test_a_snapshot_searches_its_analysed_tracks_apart_for_a_listener(
    million: TrackMatrix, analysed: TasteSpace
) -> None:
    rows = analysed.embedded_rows
    vectors = np.asarray(analysed.embedding_source)[analysed.embedding_at]
    snapshot = CatalogSnapshot(
        (len(million), None), million, EmbeddingTable(million.ids[rows], vectors)
    )
    assert snapshot.apart_rows is not None
    assert np.array_equal(np.flatnonzero(snapshot.apart_rows.mask), rows)
    model = LogisticTaste(np.random.default_rng(4).normal(0.0, 1.5, analysed.width), -0.5)
    taste = ListenerTaste.of(snapshot.taste_space.score(model), million, snapshot.apart_rows)
    assert taste.bounds is not None
    query = query_for("sad", "journey", 12, seed=3, taste=taste.scores, taste_weight=0.3,
                      taste_cell_max=taste.cell_max, taste_bounds=taste.bounds)  # fmt: skip
    pruned = rank(million, query)
    assert [(t.id, t.score) for t in pruned] == [
        (t.id, t.score) for t in rank(million, query, exhaustive=True)
    ]


def test_a_playable_filter_with_nothing_playable_gives_an_empty_list(
    million: TrackMatrix,
) -> None:
    nothing_playable = replace(million, playable=None)
    query = query_for("happy", genres=("rock",), playable_only=True, seed=1)
    assert rank(nothing_playable, query) == [] == rank(nothing_playable, query, exhaustive=True)


def test_the_mixture_bound_is_the_best_point_of_the_box_on_the_simplex() -> None:
    kernels = np.array([0.2, 1.0, 0.5, 0.1])
    lo = np.array([[0.1, 0.0, 0.2, 0.1], [0.25, 0.25, 0.25, 0.25]])
    hi = np.array([[0.6, 0.3, 0.9, 0.4], [0.25, 0.25, 0.25, 0.25]])
    # first cell: p = (0.1, 0.3, 0.5, 0.1), the rest of the mass to the largest kernels
    best = _best_mixture(kernels, lo.T, hi.T)  # one column per cell
    assert best == pytest.approx([0.02 + 0.3 + 0.25 + 0.01, 0.45])


def test_cells_come_best_bound_first_each_once_in_doubling_batches() -> None:
    bounds = np.random.default_rng(3).random(1000)  # past the 256 sorted first
    batches = list(_best_cells_first(bounds, batch=8))
    order = np.concatenate(batches)
    assert sorted(order.tolist()) == list(range(1000))
    assert np.all(np.diff(bounds[order]) <= 0)
    # 8, 16, ..., 128 make 248; the 256th cell ends the next batch early, then the rest follow
    assert [len(b) for b in batches] == [8, 16, 32, 64, 128, 8, 512, 232]


def test_ranges_concatenate_without_a_loop() -> None:
    assert _ranges(np.array([3, 10, 7]), np.array([5, 10, 9])).tolist() == [3, 4, 7, 8]


def test_a_snapshot_keeps_the_cells_and_ranks_the_same(
    million: TrackMatrix, tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path)
    empty = EmbeddingTable(np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
    store.write("k", (len(million), None), million, empty)
    files = store.read("k", heard_model=million.heard_model)
    assert files is not None and files.matrix.genre_cells.keys() == million.genre_cells.keys()
    assert files.matrix.feature_cells is not None and million.feature_cells is not None
    assert np.array_equal(files.matrix.feature_cells.rows, million.feature_cells.rows)
    for query in _queries(million, 12, seed=3):
        assert [(t.id, t.score) for t in rank(files.matrix, query)] == [
            (t.id, t.score) for t in rank(million, query)
        ]
