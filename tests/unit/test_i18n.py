"""Every word in every language: the tables are complete, and every code the server can send
(reasons, their words, errors) has its sentence."""

import re
from pathlib import Path

import pytest

from moodtune import errors
from moodtune.api.errors import _HTTP_CODES
from moodtune.i18n import LANGS, negotiate, render_reason, strings
from moodtune.recommend.reasons import Reason

SRC = Path(__file__).resolve().parents[2] / "src" / "moodtune"
PLURAL = re.compile(r"_(zero|one|two|few|many|other)$")


def _base_keys(lang: str) -> set[str]:
    """Keys with plural forms folded: each language has its own set of forms."""
    return {PLURAL.sub("", k) for k in strings(lang)}


@pytest.mark.parametrize("lang", LANGS)
def test_every_language_has_every_key(lang: str) -> None:
    assert _base_keys(lang) == _base_keys("en"), (
        f"{lang} misses {sorted(_base_keys('en') - _base_keys(lang))}, "
        f"has extra {sorted(_base_keys(lang) - _base_keys('en'))}"
    )
    plural = {PLURAL.sub("", k) for k in strings(lang) if PLURAL.search(k)}
    assert all(f"{k}_other" in strings(lang) for k in plural)


@pytest.mark.parametrize("lang", LANGS)
def test_every_placeholder_of_a_sentence_is_the_same_in_every_language(lang: str) -> None:
    def names(table: dict[str, str], key: str) -> set[str]:
        return set(re.findall(r"\{(\w+)\}", table[key]))

    en, other = dict(strings("en")), dict(strings(lang))
    for key in en.keys() & other.keys():
        assert names(en, key) == names(other, key), key


def _literal_codes(prefix: str) -> set[str]:
    """Codes the recommend package names in Reason("...") and f"<prefix>_{...}" patterns."""
    found: set[str] = set()
    for path in (SRC / "recommend").glob("*.py"):
        found |= set(re.findall(r'Reason\(\s*"(\w+)"', path.read_text()))
    return {c for c in found if c.startswith(prefix)} if prefix else found


def test_every_reason_code_in_the_code_has_a_sentence() -> None:
    for code in _literal_codes(""):
        key = code if code.startswith("intent_") else f"reason_{code}"
        assert key in strings("en"), code
    heard = {
        f"reason_heard_{w}_{c}"
        for w in ("audio", "listeners")
        for c in ("sure", "mostly", "uncertain")
    }
    assert heard <= set(strings("en"))


def test_every_error_code_has_a_sentence() -> None:
    codes = {
        c.code
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.MoodtuneError)
    }
    codes |= set(_HTTP_CODES.values()) | {"validation_error", "internal", "network"}
    for lang in LANGS:
        assert not {c for c in codes if f"error_{c}" not in strings(lang)}, lang


def test_a_reason_renders_its_nested_words_in_each_language() -> None:
    reason = Reason(
        "heard_listeners_sure",
        {"quadrant": "quadrant_Q3", "sure": 72, "intent": "intent_match", "emotion": "emotion_sad"},
    )
    assert (
        render_reason(reason)
        == "Listeners hear it as sad and subdued (72% sure) — matches your sad mood"
    )
    ru = render_reason(reason, "ru")
    assert ru.startswith("Слушатели слышат её как грустную") and "грусть" in ru
    assert render_reason(
        Reason(
            "sound",
            {
                "feel": "feel_dark",
                "drive": "drive_gentle",
                "valence": 0.12,
                "energy": 0.3,
                "intent": "intent_calm",
            },
        ),
        "ru",
    ).startswith("Мрачное, мягкое звучание (валентность 0,12")


@pytest.mark.parametrize(
    ("explicit", "header", "expected"),
    [
        (None, None, "en"),
        (None, "ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        (None, "de-DE,ru;q=0.5,en;q=0.8", "en"),
        (None, "de, fr;q=0.9", "en"),
        (None, "en;q=0, ru", "ru"),
        (None, "ru;q=bad, en", "en"),
        ("ru", "en", "ru"),
        ("xx", "ru", "ru"),
    ],
)
def test_language_negotiation(explicit: str | None, header: str | None, expected: str) -> None:
    assert negotiate(explicit, header) == expected


def test_every_feeling_has_a_name_in_the_api_and_the_tables() -> None:
    from typing import get_args

    from moodtune.api.schemas import FeelingName
    from moodtune.recommend.mood import FEELINGS

    assert set(get_args(FeelingName)) == set(FEELINGS)
    assert all(f"feeling_{f}" in strings(lang) for f in FEELINGS for lang in LANGS)
