"""Why a track was chosen, as codes with parameters: each language renders its own sentence.

A reason's text comes from ``reason_<code>`` in ``web/i18n/<lang>.json``; a string parameter
that is itself a key there (``"emotion_sad"``, ``"quadrant_Q3"``) is rendered in the same
language with the same parameters, so one sentence can hold translated words.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["NOTE", "Reason", "ReasonParam"]

ReasonParam = str | int | float
#: Free text from an API client (a saved playlist's own reasons): shown as it is.
NOTE = "note"


@dataclass(frozen=True)
class Reason:
    """One reason: ``code`` names its sentence, ``params`` fill it."""

    code: str
    params: Mapping[str, ReasonParam] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"code": self.code, "params": dict(self.params)}

    @classmethod
    def from_json(cls, value: object) -> "Reason":
        """A stored reason; plain strings (playlists saved before codes) become notes."""
        if isinstance(value, Mapping):
            return cls(str(value["code"]), dict(value.get("params") or {}))
        return cls(NOTE, {"text": str(value)})
