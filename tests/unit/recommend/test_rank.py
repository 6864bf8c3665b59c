import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from moodtune.errors import InvalidInput
from moodtune.i18n import render_reason, strings
from moodtune.recommend import EMOTIONS, RankQuery, TrackMatrix, plan_mood, rank
from moodtune.recommend.rank import song_key
from tests.unit.recommend.conftest import query_for

#: Parameters that name a word of the i18n tables (translated where they are shown).
WORD_KEY = re.compile(r"^(quadrant|feel|drive|pace|mode|band|destination|emotion|intent)_")


def _column(matrix: TrackMatrix, tracks: list, name: str) -> np.ndarray:
    from moodtune.recommend.rank import FEATURES

    return matrix.values[[t.row for t in tracks], FEATURES.index(name)]


def _heard(matrix: TrackMatrix, tracks: list, axis: str) -> np.ndarray:
    """Where listeners hear the chosen tracks: valence or arousal of the heard-mood point."""
    return matrix.heard.point[[t.row for t in tracks], 0 if axis == "valence" else 1]


def _mean(
    matrix: TrackMatrix,
    emotion: str,
    strategy: str,
    axis: str,
    seeds: range = range(5),
    preset: str = "heard",
) -> float:
    column = _heard if preset == "heard" else _column
    return float(
        np.mean(
            [
                column(
                    matrix, rank(matrix, query_for(emotion, strategy, seed=s, preset=preset)), axis
                ).mean()
                for s in seeds
            ]
        )
    )


def test_sad_match_is_heard_sadder_than_happy_match(real_matrix: TrackMatrix) -> None:
    assert (
        _mean(real_matrix, "sad", "match", "valence")
        < _mean(real_matrix, "happy", "match", "valence") - 0.4
    )


def test_old_mapping_still_ranks_by_spotify_valence(real_matrix: TrackMatrix) -> None:
    assert (
        _mean(real_matrix, "sad", "match", "valence", preset="russell")
        < _mean(real_matrix, "happy", "match", "valence", preset="russell") - 0.4
    )


def test_uplift_from_sad_is_heard_brighter_than_match_from_sad(real_matrix: TrackMatrix) -> None:
    assert (
        _mean(real_matrix, "sad", "uplift", "valence")
        > _mean(real_matrix, "sad", "match", "valence") + 0.3
    )


def test_calm_is_heard_calmer_than_match_for_angry(real_matrix: TrackMatrix) -> None:
    assert (
        _mean(real_matrix, "angry", "calm", "arousal")
        < _mean(real_matrix, "angry", "match", "arousal") - 0.3
    )


def test_calm_from_sad_angry_and_neutral_are_different_lists(real_matrix: TrackMatrix) -> None:
    lists = {e: {t.id for t in rank(real_matrix, query_for(e, "calm", seed=0))} for e in
             ("sad", "angry", "neutral")}  # fmt: skip
    assert lists["sad"] != lists["angry"] != lists["neutral"] != lists["sad"]


def test_journey_moves_from_the_current_mood_to_the_goal(real_matrix: TrackMatrix) -> None:
    tracks = rank(real_matrix, query_for("sad", "journey", n=10, seed=4))
    valence = _heard(real_matrix, tracks, "valence")
    assert len(tracks) == 10
    assert np.corrcoef(np.arange(10), valence)[0, 1] > 0.8
    assert valence[:3].mean() < 0 < valence[-3:].mean()


def test_angry_journey_calms_heard_arousal_down(real_matrix: TrackMatrix) -> None:
    arousal = _heard(
        real_matrix, rank(real_matrix, query_for("angry", "journey", n=10, seed=1)), "arousal"
    )
    assert np.corrcoef(np.arange(10), arousal)[0, 1] < -0.8


def test_same_seed_gives_the_same_playlist(real_matrix: TrackMatrix) -> None:
    first = [t.id for t in rank(real_matrix, query_for("neutral", seed=42))]
    assert first == [t.id for t in rank(real_matrix, query_for("neutral", seed=42))]


def test_other_seeds_vary_the_playlist(real_matrix: TrackMatrix) -> None:
    playlists = {
        tuple(t.id for t in rank(real_matrix, query_for("neutral", seed=s))) for s in range(5)
    }
    assert len(playlists) > 1


def test_mainstream_band_picks_more_popular_tracks_than_low(real_matrix: TrackMatrix) -> None:
    def popularity(band: str) -> float:
        tracks = rank(real_matrix, query_for("happy", popularity=band, seed=0))
        return float(np.nanmean(real_matrix.popularity[[t.row for t in tracks]]))

    assert popularity("mainstream") > 70 > 40 > popularity("low")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    weights=st.lists(st.floats(0, 1), min_size=7, max_size=7).filter(lambda w: sum(w) > 0.01),
    strategy=st.sampled_from(["match", "uplift", "calm", "journey"]),
    genres=st.lists(
        st.sampled_from(["rock", "jazz", "pop", "ambient", "classical", "metal"]),
        max_size=3,
        unique=True,
    ),
    n=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
)
def test_filters_and_diversity_always_hold(
    real_matrix: TrackMatrix,
    weights: list[float],
    strategy: str,
    genres: list[str],
    n: int,
    seed: int,
) -> None:
    tracks = rank(
        real_matrix,
        query_for(
            dict(zip(EMOTIONS, weights, strict=True)), strategy, n=n, genres=genres, seed=seed
        ),
    )
    rows = [t.row for t in tracks]
    pool = (
        len(set(np.concatenate([real_matrix.genres[g] for g in genres]).tolist()))
        if genres
        else len(real_matrix)
    )
    if pool >= 10 * n:  # ample choice: the list is full (a small genre may run out under the cap)
        assert len(tracks) == n
    assert 1 <= len(tracks) <= n
    assert len(set(rows)) == len(rows)
    assert len({int(real_matrix.song_codes[r]) for r in rows}) == len(rows)
    per_artist: dict[int, int] = {}
    for row in rows:
        for artist in real_matrix.artists_of(row):
            per_artist[int(artist)] = per_artist.get(int(artist), 0) + 1
    assert max(per_artist.values()) <= 2
    if genres:
        allowed = set(np.concatenate([real_matrix.genres[g] for g in genres]).tolist())
        assert set(rows) <= allowed
    for track in tracks:
        assert 0.0 <= track.score <= 1.0
        assert 1 <= len(track.reasons) <= 3
        assert all(render_reason(r) and render_reason(r, "ru") for r in track.reasons)
        words = [v for r in track.reasons for v in r.params.values() if isinstance(v, str)]
        assert all(w in strings("en") for w in words if WORD_KEY.match(w)), words
    if strategy != "journey":
        assert [t.score for t in tracks] == sorted((t.score for t in tracks), reverse=True)


def _toy(**overrides: object) -> TrackMatrix:
    columns: dict[str, object] = {
        "ids": [1, 2, 3, 4, 5],
        "features": {"valence": [0.1, 0.1, 0.2, 0.9, None], "energy": [0.3, 0.3, 0.4, 0.8, 0.5]},
        "popularity": [10, 20, None, 90, 50],
        "explicit": [True, False, None, False, False],
        "artists": [["A"], ["A"], ["B", "A"], ["C"], ["D"]],
        "titles": ["Rain", "Rain", "Cloud", "Sun", "Nothing"],
        "genres": [["rock"], ["rock"], ["jazz"], [], ["rock"]],
    }
    columns.update(overrides)
    return TrackMatrix.build(**columns)  # type: ignore[arg-type]


def test_tracks_without_valence_are_left_out_of_the_matrix() -> None:
    assert 5 not in _toy().ids.tolist()


def test_the_same_song_under_two_ids_is_chosen_once() -> None:
    ids = [t.id for t in rank(_toy(), query_for("sad", n=4, seed=0))]
    assert not {1, 2} <= set(ids)


def test_explicit_tracks_can_be_excluded() -> None:
    ids = [t.id for t in rank(_toy(), query_for("sad", n=4, seed=0, allow_explicit=False))]
    assert 1 not in ids and ids


def test_artist_cap_counts_every_credited_artist() -> None:
    toy = _toy(titles=["Rain", "Drizzle", "Cloud", "Sun", "Nothing"])
    ids = [t.id for t in rank(toy, query_for("sad", n=4, seed=0, max_per_artist=1))]
    assert len({1, 2, 3} & set(ids)) == 1  # all three credit artist A


def test_fewer_tracks_than_asked_returns_what_fits() -> None:
    assert len(rank(_toy(), query_for("sad", n=10, genres=["jazz"], seed=0))) == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"genres": ["polka"]}, "unknown genre"),
        ({"genres": ["rock", "jazz", "pop", "metal"]}, "at most 3"),
        ({"n": 0}, "n must be"),
    ],
    ids=["unknown-genre", "four-genres", "zero-length"],
)
def test_bad_queries_are_rejected(kwargs: dict[str, object], match: str) -> None:
    n = kwargs.pop("n", 3)
    plan = plan_mood("sad", n=1)
    query = RankQuery(targets=plan.targets, intents=plan.intents, n=n, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=match):
        rank(_toy(), query)


def test_build_rejects_misaligned_columns() -> None:
    with pytest.raises(InvalidInput, match="titles has 1 rows"):
        _toy(titles=["only one"])


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Bohemian Rhapsody", "Bohemian Rhapsody - Remastered 2011"),
        ("Hello", "Hello - Single Edit"),
        ("Hello", "HELLO!"),
        ("Señorita", "Senorita"),
        ("Stay", "Stay (feat. Justin Bieber)"),
        ("Stay", "Stay [Live at Wembley]"),
        ("Stay", "Stay - Live"),
        ("Stay", "Stay feat. Someone"),
        ("Creep", "Creep - Acoustic Version"),
    ],
)
def test_releases_of_one_song_share_a_key(a: str, b: str) -> None:
    assert song_key("The Band", a) == song_key("Band", b)


def test_different_songs_keep_different_keys() -> None:
    assert song_key("A", "(I Can't Get No) Satisfaction") != song_key("A", "Satisfaction")
    assert song_key("A", "Hello") != song_key("B", "Hello")
    assert song_key("A", "Part 1 - The Beginning") != song_key("A", "Part 1 - The End")


def test_a_long_playlist_never_holds_one_song_twice(real_matrix: TrackMatrix) -> None:
    for strategy in ("match", "journey"):
        tracks = rank(real_matrix, query_for("happy", strategy, n=100, seed=3))
        assert len(tracks) == 100
        codes = [int(real_matrix.song_codes[t.row]) for t in tracks]
        assert len(set(codes)) == 100


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    genres=st.lists(
        st.sampled_from(["rock", "pop", "jazz", "classical", "rap", "edm"]),
        min_size=2,
        max_size=3,
        unique=True,
    ),
    strategy=st.sampled_from(["match", "calm", "journey"]),
    seed=st.integers(0, 2**31 - 1),
)
def test_several_genres_share_the_playlist(
    real_matrix: TrackMatrix, genres: list[str], strategy: str, seed: int
) -> None:
    """At length 100, each genre gets its share when it has enough tracks (counted once per
    genre a track belongs to), instead of the list filling from the largest genre."""
    tracks = rank(real_matrix, query_for("sad", strategy, n=100, genres=genres, seed=seed))
    assert len(tracks) == 100
    members = {g: set(real_matrix.genres[g].tolist()) for g in genres}
    share = 100 // len(genres)
    for genre, rows in members.items():
        assert sum(t.row in rows for t in tracks) >= share, genre
    assert len({int(real_matrix.song_codes[t.row]) for t in tracks}) == 100
