"""Texts in the listener's language, from the page's own tables (``web/i18n/<lang>.json``).

One table per language serves both the page and the API's ``text`` fields, so a reason reads
the same in both; a test checks that every language has every key.
"""

import json
import re
from collections.abc import Mapping
from functools import cache
from importlib import resources

from moodtune.recommend.reasons import Reason, ReasonParam

__all__ = ["DEFAULT_LANG", "LANGS", "negotiate", "render_reason", "strings"]

LANGS: tuple[str, ...] = ("en", "ru")
DEFAULT_LANG = "en"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_MAX_DEPTH = 3  # a key inside a key inside a reason; deeper would be a table mistake


@cache
def strings(lang: str) -> Mapping[str, str]:
    """The whole table of one language (read once)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r}; known: {', '.join(LANGS)}")
    text = resources.files("moodtune").joinpath("web", "i18n", f"{lang}.json").read_text("utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def negotiate(explicit: str | None, accept_language: str | None) -> str:
    """``explicit`` if known, else the best known language of an Accept-Language header."""
    if explicit in LANGS:
        return explicit
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        primary = tag.split("-")[0].lower()
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        if primary in LANGS and weight > 0:
            ranked.append((-weight, i, primary))
    return min(ranked)[2] if ranked else DEFAULT_LANG


def _number(value: float, lang: str) -> str:
    text = f"{value:g}"
    return text.replace(".", ",") if lang == "ru" else text


def _fill(template: str, params: Mapping[str, ReasonParam], lang: str, depth: int) -> str:
    table = strings(lang)

    def value(match: re.Match[str]) -> str:
        param = params.get(match.group(1), "")
        if isinstance(param, str):
            if param in table and depth < _MAX_DEPTH:
                return _fill(table[param], params, lang, depth + 1)
            return param
        if isinstance(param, float):
            return _number(param, lang)
        return str(param)

    return _PLACEHOLDER.sub(value, template)


def render_reason(reason: Reason, lang: str = DEFAULT_LANG) -> str:
    """The reason as one sentence in ``lang``, first letter capitalised."""
    template = strings(lang).get(f"reason_{reason.code}", reason.code)
    text = _fill(template, reason.params, lang, 0)
    return text[:1].upper() + text[1:]
