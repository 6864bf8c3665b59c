import numpy as np
import pytest

from moodtune.errors import InvalidInput
from moodtune.recommend.taste import (
    MODELS,
    SIGNAL_WEIGHTS,
    Event,
    TasteSpace,
    fit_taste,
    labels_from_events,
)

N = 400  # tracks 0..199 sound like style A, 200..399 like style B


@pytest.fixture(scope="module")
def space() -> TasteSpace:
    rng = np.random.default_rng(7)
    style = np.repeat([1.0, -1.0], N // 2)
    features = rng.normal(0, 1, (N, 6)).astype(np.float32)
    features[:, 0] += 1.5 * style  # e.g. energy differs between the styles
    vectors = (rng.normal(0, 1, (N, 32)) + 2.0 * style[:, None] * np.eye(32)[0]).astype(np.float32)
    return TasteSpace.build(np.arange(N), features, (np.arange(N), vectors))


def test_signal_weights_follow_seed_003() -> None:
    w = SIGNAL_WEIGHTS
    assert (
        w["like"] > w["complete"] > w["play"] == 0 > w["skip_late"] > w["skip_early"] > w["dislike"]
    )
    labels = labels_from_events(
        [
            Event(1, "like"),
            Event(1, "complete"),  # clipped at 1
            Event(2, "skip", 5_000),
            Event(3, "skip", 120_000),
            Event(4, "play"),  # says nothing: left out
            Event(5, "dislike"),
        ]
    )
    assert labels == {1: 1.0, 2: -0.3, 3: -0.1, 5: -1.0}
    with pytest.raises(InvalidInput):
        labels_from_events([Event(1, "love")])  # type: ignore[arg-type]


def _mean_unseen(space: TasteSpace, labels: dict[int, float], model: str, style: slice) -> float:
    fitted = fit_taste(space, labels, model=model, seed=1)
    assert fitted is not None
    scores = space.score(fitted)
    unseen = [i for i in range(N)[style] if i not in labels]
    return float(scores[unseen].mean())


@pytest.mark.parametrize("model", sorted(MODELS))
def test_likes_of_a_style_raise_unseen_tracks_of_that_style(space: TasteSpace, model: str) -> None:
    a, b = slice(0, N // 2), slice(N // 2, N)
    base = {0: 1.0, 1: 1.0, 200: 1.0, 201: 1.0}
    more_a = {**base, **dict.fromkeys(range(2, 12), 1.0)}
    assert _mean_unseen(space, more_a, model, a) > _mean_unseen(space, base, model, a)
    assert _mean_unseen(space, more_a, model, a) > _mean_unseen(space, more_a, model, b)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_skips_lower_unseen_tracks_of_that_style(space: TasteSpace, model: str) -> None:
    a = slice(0, N // 2)
    base = {0: 1.0, 1: 1.0, 200: 1.0, 201: 1.0}
    skipped = {**base, **dict.fromkeys(range(20, 40), -0.3)}
    assert _mean_unseen(space, skipped, model, a) < _mean_unseen(space, base, model, a)


def test_nothing_liked_yet_gives_no_model(space: TasteSpace) -> None:
    assert fit_taste(space, {}) is None
    assert fit_taste(space, {3: -1.0}) is None
    assert fit_taste(space, {999_999: 1.0}) is None  # unknown track
    with pytest.raises(InvalidInput):
        fit_taste(space, {0: 1.0}, model="svm")


def test_scores_are_probabilities(space: TasteSpace) -> None:
    for model in MODELS:
        fitted = fit_taste(space, {0: 1.0, 5: 1.0, 300: -1.0}, model=model)
        assert fitted is not None
        scores = space.score(fitted)
        assert scores.shape == (N,) and 0.0 <= scores.min() and scores.max() <= 1.0


def test_the_space_is_a_view_that_gives_the_dense_vectors_and_scores() -> None:
    """A large catalog with a few analysed tracks: the space copies neither the features nor
    the embeddings, yet gives the same vectors and scores as the dense (n, f + d + 1) form."""
    rng = np.random.default_rng(3)
    n, d, m = 5000, 16, 40
    ids = np.arange(n) * 3 + 11
    features = np.asfortranarray(rng.normal(0, 1, (n, 10)).astype(np.float32))
    columns = [0, 1, 2, 4, 5, 6, 7, 8, 9]  # one column left out, as the key is
    analysed = rng.choice(n, m, replace=False)
    table = rng.normal(0, 1, (m + 5, d)).astype(np.float32)  # 5 tracks not in the catalog
    table_ids = np.concatenate([ids[analysed], [1, 2, 4, 5, 7]])
    space = TasteSpace.build(ids, features, (table_ids, table), columns=columns)
    assert space.source is features and space.embedding_source is table
    assert len(space.embedded_rows) == m and space.width == len(columns) + d + 1

    f = len(columns)
    used = features[:, columns]
    dense = np.zeros((n, f + d + 1), np.float32)
    dense[:, :f] = (used - used.mean(0)) / used.std(0) / np.sqrt(f)
    vectors = table[:m]
    dense[analysed, f : f + d] = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    dense[analysed, -1] = 0.5
    np.testing.assert_allclose(space.vectors(np.arange(n)), dense, atol=1e-5)
    shuffled = rng.permutation(n)[:300]
    np.testing.assert_allclose(space.vectors(shuffled), dense[shuffled], atol=1e-5)

    labels = {int(ids[r]): 1.0 for r in analysed[:10]} | {int(ids[r]): -1.0 for r in range(5)}
    for name in MODELS:
        fitted = fit_taste(space, labels, model=name, seed=1)
        assert fitted is not None
        np.testing.assert_allclose(space.score(fitted, block=777), fitted.score(dense), atol=1e-5)


def test_a_space_without_an_embedding_table_has_features_only() -> None:
    features = np.random.default_rng(4).normal(0, 1, (50, 6)).astype(np.float32)
    space = TasteSpace.build(np.arange(50), features)
    assert space.width == 6 and space.vectors(np.arange(50)).shape == (50, 6)
