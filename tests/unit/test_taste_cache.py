"""The taste cache holds at most its byte budget of scores (40 MB a listener at 10M tracks)."""

import numpy as np

from moodtune.service import ListenerTaste, TasteCache


def test_the_cache_keeps_the_most_recent_listeners_within_its_byte_budget() -> None:
    cache = TasteCache(size=100, max_bytes=3 * 4000)
    fitted: list[int] = []

    def fit(i: int) -> ListenerTaste:
        fitted.append(i)
        return ListenerTaste(np.full(1000, i, np.float32))  # 4,000 bytes

    for i in range(10):
        cache.get_or_fit((f"listener {i}", 1, (1000, None)), lambda i=i: fit(i))
    assert len(cache) == 3
    for i in (7, 8, 9):  # kept: no refit
        taste = cache.get_or_fit((f"listener {i}", 1, (1000, None)), lambda i=i: fit(-i))
        assert taste is not None and taste.scores[0] == i
    cache.get_or_fit(("listener 0", 1, (1000, None)), lambda: fit(100))
    assert fitted == [*range(10), 100]


def test_one_entry_larger_than_the_budget_is_still_kept() -> None:
    cache = TasteCache(max_bytes=10)
    taste = cache.get_or_fit(("a", 1, (1, None)), lambda: ListenerTaste(np.zeros(100, np.float32)))
    assert taste is not None and len(cache) == 1
