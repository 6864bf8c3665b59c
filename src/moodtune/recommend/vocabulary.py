"""The track features moodtune ranks by, in matrix column order (DESIGN.md section 5)."""

__all__ = ["FEATURES"]

FEATURES: tuple[str, ...] = (
    "valence",
    "energy",
    "danceability",
    "acousticness",
    "instrumentalness",
    "speechiness",
    "liveness",
    "tempo",
    "loudness",
    "mode",
    "key",
)
