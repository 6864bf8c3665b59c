"""Genres of many tracks as (row, genre) links: the shape of the database's link table, so a
ranking matrix is built from it with numpy instead of a Python list of genres per track."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GenreLinks"]


@dataclass(frozen=True, eq=False)
class GenreLinks:
    """Which of ``n`` rows carry which genre; each (row, genre) pair at most once."""

    n: int
    rows: np.ndarray  # int64 (m,): the row of each link
    codes: np.ndarray  # int64 (m,): the genre of each link, an index into ``names``
    names: Sequence[str]  # genre names by code

    @classmethod
    def from_lists(cls, per_row: Sequence[Sequence[str]]) -> "GenreLinks":
        """From one list of genre names per row (small catalogs, tests, hand-built data)."""
        codes: dict[str, int] = {}
        rows: list[int] = []
        links: list[int] = []
        for row, genres in enumerate(per_row):
            for genre in dict.fromkeys(genres):
                rows.append(row)
                links.append(codes.setdefault(genre, len(codes)))
        return cls(len(per_row), np.array(rows, np.int64), np.array(links, np.int64), list(codes))

    def take(self, keep: np.ndarray) -> "GenreLinks":
        """The links of rows ``keep`` (sorted), renumbered to their positions in ``keep``."""
        position = np.full(self.n, -1, dtype=np.int64)
        position[keep] = np.arange(len(keep))
        new_rows = position[self.rows]
        kept = new_rows >= 0
        return GenreLinks(len(keep), new_rows[kept], self.codes[kept], self.names)

    def groups(self) -> dict[str, np.ndarray]:
        """Each genre's sorted rows."""
        order = np.lexsort((self.rows, self.codes))
        codes, rows = self.codes[order], self.rows[order]
        present, starts = np.unique(codes, return_index=True)
        ends = np.append(starts[1:], len(codes)) if len(codes) else starts
        return {
            self.names[c]: rows[a:b]
            for c, a, b in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True)
        }

    def onehot(self, vocabulary: Sequence[str]) -> np.ndarray:
        """(n, len(vocabulary) + 1) float64: 1 where a row carries a genre of ``vocabulary``;
        the last column flags rows that carry none of them."""
        where = {g: i for i, g in enumerate(vocabulary)}
        column_of_code = np.array([where.get(name, -1) for name in self.names] or [-1], np.int64)
        columns = column_of_code[self.codes] if len(self.codes) else np.zeros(0, np.int64)
        known = columns >= 0
        out = np.zeros((self.n, len(vocabulary) + 1), dtype=np.float64)
        out[self.rows[known], columns[known]] = 1.0
        out[~out[:, : len(vocabulary)].any(axis=1), len(vocabulary)] = 1.0
        return out
