"""Errors moodtune raises on purpose. ``code`` is stable; HTTP status lives in api/errors.py.

* MoodtuneError "internal"
  x InvalidInput "invalid_input"
    x UnsupportedMedia "unsupported_media_type" · TooLarge "too_large" · BadImage "bad_image"
    x BadForm "bad_form"
    x BadAudio "bad_audio"
    x BadCatalogFile "bad_catalog_file"
  x NoFace "no_face"
  x NotFound "not_found"
  x NotAnalysed "not_analysed"
  x Unavailable "unavailable"
  x ModelError "model_error"
"""

__all__ = [
    "BadAudio",
    "BadCatalogFile",
    "BadForm",
    "BadImage",
    "InvalidInput",
    "LoginRequired",
    "ModelError",
    "MoodtuneError",
    "NoFace",
    "NotAnalysed",
    "NotFound",
    "NotShared",
    "Revoked",
    "SourceAuth",
    "SourceUnavailable",
    "TooLarge",
    "Unavailable",
    "UnsupportedMedia",
]


class MoodtuneError(Exception):
    """Base of every error moodtune raises on purpose; ``details`` must be JSON-safe."""

    code = "internal"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidInput(MoodtuneError):
    """A value the caller sent is wrong; the message names it."""

    code = "invalid_input"


class UnsupportedMedia(InvalidInput):
    code = "unsupported_media_type"


class TooLarge(InvalidInput):
    code = "too_large"


class BadImage(InvalidInput):
    code = "bad_image"


class BadForm(InvalidInput):
    """A multipart body that cannot be parsed, or one with more files or fields than allowed."""

    code = "bad_form"


class BadAudio(InvalidInput):
    """An audio file that cannot be decoded: empty, damaged, truncated or not audio at all."""

    code = "bad_audio"


class BadCatalogFile(InvalidInput):
    """A catalog file that cannot be imported at all (not CSV, missing required columns)."""

    code = "bad_catalog_file"


class NoFace(MoodtuneError):
    code = "no_face"


class NotFound(MoodtuneError):
    code = "not_found"


class NotShared(MoodtuneError):
    """A playlist's share link was asked for (its QR code) while it has none."""

    code = "not_shared"


class Revoked(MoodtuneError):
    """A share link that existed and was revoked by its owner."""

    code = "revoked"


class NotAnalysed(MoodtuneError):
    """The track exists but its audio was never analysed (a catalog-only entry)."""

    code = "not_analysed"


class Unavailable(MoodtuneError):
    """A dependency (database, catalog index) is not ready to serve."""

    code = "unavailable"


class LoginRequired(MoodtuneError):
    """The listener must log in to a service (Spotify) first."""

    code = "login_required"


class SourceUnavailable(MoodtuneError):
    """A music server (Subsonic) cannot be reached or answers like a broken server."""

    code = "source_unavailable"


class SourceAuth(MoodtuneError):
    """A music server refused moodtune's credentials for it."""

    code = "source_auth"


class ModelError(MoodtuneError):
    """A shipped model is missing, unreadable or fails its checksum: a broken install."""

    code = "model_error"
