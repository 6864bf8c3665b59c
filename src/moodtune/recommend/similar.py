"""Tracks that sound alike: cosine similarity of audio-CNN embeddings, with reasons.

One matrix-vector product over unit vectors (in process, no vector database): about 1 ms per
100k analysed tracks.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from moodtune.errors import InvalidInput
from moodtune.recommend.reasons import Reason
from moodtune.recommend.taste import RowLookup

__all__ = ["EmbeddingTable", "nearest", "nearest_to_vector", "similarity_reasons"]

#: A style counts as "the track's style" above this probability (multi-label sigmoid output).
_STYLE_PRESENT = 0.35


@dataclass(frozen=True, eq=False)
class EmbeddingTable:
    """Row-aligned track ids and unit-norm embeddings."""

    ids: np.ndarray  # int64 (n,)
    vectors: np.ndarray  # float32 (n, dim), rows of norm 1
    #: bool (n,): flagged as not music, only returned when asked for; None = none hidden
    hidden: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.vectors):
            raise InvalidInput(f"{len(self.ids)} ids but {len(self.vectors)} vectors")
        if self.hidden is not None and len(self.hidden) != len(self.ids):
            raise InvalidInput(f"{len(self.ids)} ids but {len(self.hidden)} hidden flags")

    @cached_property
    def row_of(self) -> RowLookup:
        """Row of a track id; built on the first lookup, not when a snapshot is mapped."""
        return RowLookup(self.ids)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, track_id: object) -> bool:
        return track_id in self.row_of


def nearest(
    table: EmbeddingTable, track_id: int, n: int = 10, *, include_hidden: bool = False
) -> list[tuple[int, float]]:
    """The ``n`` tracks most similar to ``track_id`` (itself excluded), best first; tracks
    flagged as not music only with ``include_hidden``.

    Returns (track id, cosine similarity in -1..1) pairs; ties keep id order.
    """
    if track_id not in table:
        raise InvalidInput(f"track {track_id} has no embedding", track_id=track_id)
    row = table.row_of[track_id]
    cosine = table.vectors @ table.vectors[row]
    cosine[row] = -np.inf
    candidates = len(table) - 1
    if table.hidden is not None and not include_hidden:
        cosine[table.hidden] = -np.inf
        candidates -= int(np.count_nonzero(np.delete(table.hidden, row)))
    k = min(n, candidates)
    if k <= 0:
        return []
    top = np.argpartition(-cosine, k - 1)[:k]
    top = top[np.lexsort((table.ids[top], -cosine[top]))]
    return [(int(table.ids[i]), round(float(cosine[i]), 4)) for i in top]


def nearest_to_vector(
    table: EmbeddingTable, vector: np.ndarray, n: int = 10, *, include_hidden: bool = False
) -> list[tuple[int, float]]:
    """The ``n`` tracks whose embeddings are nearest to ``vector`` (a track not in the table,
    such as an uploaded one), best first; same rules as :func:`nearest`."""
    norm = float(np.linalg.norm(vector))
    if len(table) == 0 or norm == 0:
        return []
    cosine = table.vectors @ (np.asarray(vector, np.float32) / norm)
    if table.hidden is not None and not include_hidden:
        cosine[table.hidden] = -np.inf
    k = min(n, int(np.count_nonzero(np.isfinite(cosine))))
    if k <= 0:
        return []
    top = np.argpartition(-cosine, k - 1)[:k]
    top = top[np.lexsort((table.ids[top], -cosine[top]))]
    return [(int(table.ids[i]), round(float(cosine[i]), 4)) for i in top]


def _styles(style: Mapping[str, float]) -> list[str]:
    return [k for k, v in sorted(style.items(), key=lambda kv: -kv[1]) if v >= _STYLE_PRESENT]


def similarity_reasons(
    cosine: float,
    seed_features: Mapping[str, float | int | None],
    features: Mapping[str, float | int | None],
    seed_style: Mapping[str, float],
    style: Mapping[str, float],
) -> tuple[Reason, ...]:
    """1-3 short reasons a listener understands, the sound itself first."""
    reasons = [Reason("sounds_alike", {"percent": round(100 * max(cosine, 0.0))})]
    shared = [s for s in _styles(seed_style) if s in set(_styles(style))]
    if shared:
        reasons.append(Reason("same_style", {"style": shared[0].replace("_", " ")}))
    a, b = seed_features.get("tempo"), features.get("tempo")
    if a and b and abs(float(a) - float(b)) <= 0.06 * float(a):
        reasons.append(Reason("similar_tempo", {"bpm": round(float(b))}))
    va, vb = seed_features.get("valence"), features.get("valence")
    ea, eb = seed_features.get("energy"), features.get("energy")
    if len(reasons) < 3 and None not in (va, vb, ea, eb):
        if abs(float(va) - float(vb)) < 0.15 and abs(float(ea) - float(eb)) < 0.15:  # type: ignore[arg-type]
            reasons.append(Reason("similar_mood"))
    return tuple(reasons[:3])
