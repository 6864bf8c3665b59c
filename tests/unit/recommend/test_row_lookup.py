"""Track id -> row, by a table over dense ids (database keys) or a search over sparse ones."""

import numpy as np
import pytest

from moodtune.recommend.taste import RowLookup


@pytest.mark.parametrize(
    "ids",
    [
        np.random.default_rng(0).permutation(np.arange(1, 1001)),  # dense: a table
        np.random.default_rng(1).permutation(np.arange(500, 1500))[:700],  # gaps: still a table
        np.random.default_rng(2).choice(10**12, 1000, replace=False),  # sparse: a search
        np.array([-5, 3, 1 << 40]),
    ],
)
def test_every_id_finds_its_row_and_others_find_none(ids: np.ndarray) -> None:
    lookup = RowLookup(ids)
    assert lookup.rows_of(ids).tolist() == list(range(len(ids)))
    absent = np.setdiff1d(np.arange(ids.min() - 3, ids.min() + 2000), ids)
    absent = np.concatenate([absent, [ids.max() + 1, ids.min() - 1, 2**62]])
    assert (lookup.rows_of(absent) == -1).all()
    assert int(ids[-1]) in lookup and lookup[int(ids[-1])] == len(ids) - 1
    assert "7" not in lookup
    with pytest.raises(KeyError):
        lookup[int(absent[0])]


def test_no_ids_find_no_rows() -> None:
    lookup = RowLookup(np.zeros(0, np.int64))
    assert lookup.rows_of(np.array([0, 1])).tolist() == [-1, -1]
