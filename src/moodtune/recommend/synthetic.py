"""Large catalogs resampled from a real one, for scale tests and ``bench/scale.py``.

Whole rows of the real matrix are drawn with replacement (keeping the joint distribution of
features, genres and heard mood), their 0..1 features jittered by N(0, 0.02), tempo and
loudness by N(0, 0.01) of their range, popularity by ±5, the heard-mood probabilities by a
log-normal factor; each row keeps its real first artist in one of ``n / len(matrix)`` copies of
the real artists (so artists keep their real share of the catalog); every row is its own
song. All numpy, no loop over rows.
"""

from dataclasses import replace

import numpy as np

from moodtune.recommend.rank import FEATURES, TrackMatrix

__all__ = ["resample"]

_UNIT = ("valence", "energy", "danceability", "acousticness", "instrumentalness", "speechiness",
         "liveness")  # fmt: skip
_SCALED = ("tempo", "loudness")
_RAW_RANGE = {"tempo": (50.0, 200.0), "loudness": (-40.0, 0.0)}


def resample(
    matrix: TrackMatrix, n: int, *, seed: int = 0, playable_share: float | None = None
) -> TrackMatrix:
    """A matrix of ``n`` rows drawn from ``matrix`` (ids 1..n, no cells); with
    ``playable_share``, that share of rows (at random) is playable, as a library would be."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(matrix), n)
    features = np.array(matrix.features[picks], dtype=np.float32, order="F")
    values = np.array(matrix.values[picks], dtype=np.float32)
    for name in (*_UNIT, *_SCALED):
        j = FEATURES.index(name)
        sigma = 0.02 if name in _UNIT else 0.01
        column = np.clip(features[:, j] + rng.normal(0.0, sigma, n).astype(np.float32), 0.0, 1.0)
        features[:, j] = column
        low, high = _RAW_RANGE.get(name, (0.0, 1.0))
        values[:, j] = low + column * (high - low)
    popularity = matrix.popularity[picks] + rng.integers(-5, 6, n).astype(np.float32)
    probs = matrix.heard.probs[picks] * np.exp(rng.normal(0.0, 0.1, (n, 4)))
    probs /= probs.sum(axis=1, keepdims=True)
    heard = matrix.heard_model.mixture(probs)
    return replace(
        matrix,
        ids=np.arange(1, n + 1, dtype=np.int64),
        values=values,
        features=features,
        popularity=np.clip(popularity, 0.0, 100.0).astype(np.float32),
        explicit=matrix.explicit[picks],
        artist_ptr=np.arange(n + 1, dtype=np.int64),
        artist_codes=_artists_of(matrix, picks, rng),
        song_codes=np.arange(n, dtype=np.int64),
        heard=replace(heard, probs=np.asfortranarray(heard.probs)),
        heard_from_audio=matrix.heard_from_audio[picks],
        non_music=matrix.non_music[picks],
        genres=_genres_of(matrix, picks),
        playable=(
            rng.random(n) < playable_share
            if playable_share is not None
            else None
            if matrix.playable is None
            else matrix.playable[picks]
        ),
        cells=None,
    )


def _artists_of(matrix: TrackMatrix, picks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One artist per row: the picked row's first artist in one of ``n / len(matrix)`` copies
    of the real artists, so artists keep their real sizes relative to the catalog."""
    first = matrix.artist_codes[np.minimum(matrix.artist_ptr[:-1], len(matrix.artist_codes) - 1)]
    copies = max(1, len(picks) // len(matrix))
    artists = int(matrix.artist_codes.max()) + 1
    codes = first[picks] + artists * rng.integers(0, copies, len(picks))
    return np.asarray(codes, dtype=np.int32)


def _genres_of(matrix: TrackMatrix, picks: np.ndarray) -> dict[str, np.ndarray]:
    """Each genre's sorted rows among the picks: the picks of its original rows."""
    out = {}
    for name, rows in matrix.genres.items():
        member = np.zeros(len(matrix), dtype=bool)
        member[rows] = True
        out[name] = np.flatnonzero(member[picks]).astype(np.int64)
    return out
