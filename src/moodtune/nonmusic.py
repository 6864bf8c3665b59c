"""Which catalog rows are not music: noise, rain and nature recordings, ASMR, binaural beats,
test tones, spoken word. Pure rules on the row's metadata and Spotify features.

Flagged rows are imported and searchable like any other, but never recommended unless a
listener asks for them. Analysed audio files get the same treatment from the signal itself
(``moodtune.audio.music``).
"""

import re
from collections.abc import Sequence

__all__ = ["SPOKEN_SPEECHINESS", "catalog_reason"]

#: Spotify: "Values above 0.66 describe tracks that are probably made entirely of spoken words."
SPOKEN_SPEECHINESS = 0.66
#: Genres whose rapped vocals push Spotify's speechiness up without being spoken word.
_RAPPED_GENRES = frozenset({"rap", "hip-hop", "hip hop", "trap", "drill", "grime", "afrobeats"})

#: (pattern on "title | artists | album", folded; reason). Word-bounded so "Rain" by a band or
#: "Noise Annoys" stay music: the patterns name the recording, not a word in a song title.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (r"\b(white|pink|brown|gr[ae]y|green|blue) noise\b", "noise recording"),
        (r"\b(fan|static|vacuum|hair ?dryer|airplane|cabin|engine|womb) (noise|sounds?)\b",
         "noise recording"),
        (r"\b(rain|ocean|sea|nature|forest|jungle|river|stream|thunder(storm)?|storm|water|"
         r"wave|bird|sleep|relaxing|ambient) (sounds?|noises?|recordings?)\b",
         "nature or ambience recording"),
        (r"\b(sound ?fx|sound effects?|sfx|field recording)\b", "sound effects"),
        (r"\basmr\b", "ASMR"),
        (r"\bbinaural\b|\bisochronic\b|\bsolfeggio\b", "binaural or frequency tones"),
        (r"\b\d+(\.\d+)? ?hz\b", "binaural or frequency tones"),
        (r"\bloopable\b|\bno fade\b", "noise recording"),
        (r"\b(audiobook|podcast|stand-up comedy|spoken word)\b", "spoken word"),
        (r"[-(]\s*skit\b", "spoken word"),
    )
)  # fmt: skip


def catalog_reason(
    *,
    title: str,
    artists: Sequence[str],
    album: str | None,
    genres: Sequence[str],
    tempo: float | None,
    speechiness: float | None,
) -> str | None:
    """Why a catalog row is not music, or None for music.

    Rules, first match wins: a title/artist/album naming a noise, nature, ASMR, binaural or
    spoken recording; Spotify found no tempo (0 BPM: no beat and no pitch); speechiness at or
    above 0.66 (spoken word), except in rap genres.
    """
    text = " | ".join([title, *artists, album or ""]).casefold()
    for pattern, reason in _PATTERNS:
        if pattern.search(text):
            return reason
    if tempo is not None and tempo == 0:
        return "no beat or pitch (tempo 0)"
    if (
        speechiness is not None
        and speechiness >= SPOKEN_SPEECHINESS
        and not _RAPPED_GENRES.intersection(g.casefold() for g in genres)
    ):
        return f"spoken word (speechiness {speechiness:.2f})"
    return None
