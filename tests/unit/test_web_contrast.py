"""The themes' colour pairs meet WCAG 2.1 AA (4.5:1 for text, 3:1 for UI parts)."""

import re

import pytest

from moodtune.api.app import WEB_DIR

PAIRS = [  # (foreground, background, minimum ratio)
    ("text", "bg", 4.5),
    ("text", "surface", 4.5),
    ("muted", "surface", 4.5),
    ("muted", "bg", 4.5),
    ("accent", "surface", 4.5),  # links and ghost buttons
    ("accent-text", "accent", 4.5),  # filled buttons
    ("toast-text", "toast", 4.5),
    ("toast-danger", "toast", 3.0),
    ("focus", "surface", 3.0),
    ("bar-dom", "bg", 3.0),
    ("border", "surface", 1.3),  # decorative
]


def _themes() -> dict[str, dict[str, str]]:
    css = (WEB_DIR / "styles.css").read_text()
    themes = {}
    for name in ("light", "dark"):
        block = re.search(r'\[data-theme="' + name + r'"\][^{]*\{([^}]*)\}', css)
        assert block, name
        themes[name] = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", block.group(1)))
    return themes


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("fg", "bg", "minimum"), PAIRS)
def test_theme_colours_meet_aa(theme: str, fg: str, bg: str, minimum: float) -> None:
    colours = _themes()[theme]
    assert contrast(colours[fg], colours[bg]) >= minimum, (theme, fg, bg)
