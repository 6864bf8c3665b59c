"""Genre links and the vectorised matrix build: the same matrix as interning row by row."""

from typing import Any

import numpy as np

from moodtune.recommend import TrackMatrix
from moodtune.recommend.genres import GenreLinks
from moodtune.recommend.rank import track_song_key


def test_links_group_take_and_one_hot() -> None:
    links = GenreLinks.from_lists([["rock", "jazz", "rock"], [], ["jazz"], ["polka"]])
    assert {g: r.tolist() for g, r in links.groups().items()} == {
        "rock": [0], "jazz": [0, 2], "polka": [3],
    }  # fmt: skip
    kept = links.take(np.array([1, 2, 3]))
    assert {g: r.tolist() for g, r in kept.groups().items()} == {"jazz": [1], "polka": [2]}
    assert links.onehot(["jazz", "rock"]).tolist() == [
        [1, 1, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1],
    ]  # fmt: skip
    assert GenreLinks.from_lists([]).groups() == {}
    assert GenreLinks.from_lists([[], []]).onehot(["jazz"]).tolist() == [[0, 1], [0, 1]]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two code arrays group the same items together (codes themselves may differ)."""
    pairs = len(np.unique(np.stack([a, b], axis=1), axis=0))
    return pairs == len(np.unique(a)) == len(np.unique(b))


def test_links_and_stored_song_keys_build_the_matrix_row_by_row_interning_builds(
    real_columns: dict[str, Any], real_matrix: TrackMatrix
) -> None:
    columns, by_lists = real_columns, real_matrix
    keys: list[str | None] = [
        track_song_key(t, a) for t, a in zip(columns["titles"], columns["artists"], strict=True)
    ]
    keys[::7] = [None] * len(keys[::7])  # rows written before the column: computed at build
    by_links = TrackMatrix.build(
        **{**columns, "genres": GenreLinks.from_lists(columns["genres"])},
        song_keys=keys,
    )
    assert by_lists.genres.keys() == by_links.genres.keys()
    assert all(np.array_equal(by_lists.genres[g], by_links.genres[g]) for g in by_lists.genres)
    assert np.array_equal(by_lists.heard.probs, by_links.heard.probs)
    assert np.array_equal(by_lists.artist_ptr, by_links.artist_ptr)
    assert _same_partition(by_lists.song_codes, by_links.song_codes)

    # the reference: intern every kept row's artists and song in turn
    artist_codes: dict[str, int] = {}
    flat, songs, song_codes = [], {}, []
    for row in by_lists.ids.tolist():
        names = [a.casefold().strip() for a in columns["artists"][row] if a and a.strip()]
        flat += [artist_codes.setdefault(a, len(artist_codes)) for a in names]
        key = track_song_key(columns["titles"][row], columns["artists"][row])
        song_codes.append(songs.setdefault(key, len(songs)))
    assert len(flat) == len(by_links.artist_codes)
    assert _same_partition(np.array(flat), by_links.artist_codes)
    assert _same_partition(np.array(song_codes), by_links.song_codes)
    assert len(np.unique(by_links.song_codes)) < len(by_links), "real duplicates exist"
