"""Placeholder cover art for tracks without a picture: an SVG made from the title, so every
track has a distinct, stable image and the web page never shows a broken one."""

import hashlib
from html import escape

__all__ = ["placeholder_cover"]


def _initials(title: str) -> str:
    words = [w for w in title.split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "♪"


def placeholder_cover(title: str, artists: list[str]) -> bytes:
    """A 300x300 SVG: a two-colour gradient chosen by hashing title and artists, and initials."""
    digest = hashlib.sha256("\x1f".join([title, *artists]).encode()).digest()
    hue_a, hue_b = digest[0] * 360 // 256, (digest[0] * 360 // 256 + 40 + digest[1] % 80) % 360
    label = escape(f"{title} — {', '.join(artists)}" if artists else title)
    svg = "\n".join(
        [
            '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 300 300" role="img" '
            f'aria-label="{label}">',
            '<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">',
            f'<stop offset="0" stop-color="hsl({hue_a},55%,42%)"/>',
            f'<stop offset="1" stop-color="hsl({hue_b},60%,28%)"/>',
            "</linearGradient></defs>",
            '<rect width="300" height="300" fill="url(#g)"/>',
            '<text x="150" y="150" dy="0.35em" text-anchor="middle" font-family="sans-serif" '
            f'font-size="110" fill="#fff" fill-opacity="0.9">{escape(_initials(title))}</text>',
            "</svg>",
        ]
    )
    return svg.encode()
