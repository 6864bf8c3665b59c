"""Pydantic request and response models: the JSON contract of DESIGN.md section 6."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from moodtune.catalog.models import Playlist, Track
from moodtune.recommend import EMOTIONS, PRESETS
from moodtune.service import PlaylistParams, PlaylistResult

API_PREFIX = "/api/v1"
EmotionName = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

FEATURE_FIELDS = ("danceability", "energy", "valence", "acousticness", "instrumentalness",
                  "speechiness", "liveness", "tempo", "loudness", "key", "mode", "time_signature",
                  "popularity", "duration_ms", "explicit")  # fmt: skip

#: Ids, positions and offsets are 32-bit integers in PostgreSQL; larger ones are refused here
#: (422) instead of overflowing in the database.
INT32_MAX = 2**31 - 1


def _json_number(value: object) -> object:
    """Only JSON numbers: pydantic's lax mode would also read true/false as 1/0 and "7" as 7,
    which the OpenAPI schema does not allow."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a number is required")
    return value


StrictNumber = BeforeValidator(_json_number)
# Constraints before the validator, so the OpenAPI schema shows them as minimum/maximum.
DbId = Annotated[int, Field(ge=1, le=INT32_MAX), StrictNumber]
Probability = Annotated[float, Field(ge=0, allow_inf_nan=False), StrictNumber]
TrackIdPath = Annotated[int, Path(ge=1, le=INT32_MAX, description="A track id.")]
PlaylistIdPath = Annotated[int, Path(ge=1, le=INT32_MAX, description="A playlist id.")]
Offset = Annotated[int, Query(ge=0, le=INT32_MAX, description="Items to skip.")]


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorBody


class TrackOut(BaseModel):
    id: int
    title: str
    artists: list[str]
    album: str | None
    year: int | None
    genres: list[str]
    spotify_id: str | None
    spotify_url: str | None = Field(description="Opens the track on Spotify (needs internet).")
    source: str
    features: dict[str, float | int | bool | None] = Field(
        description="DESIGN.md section 5 vocabulary; null where unknown."
    )
    estimators: dict[str, str] | None = Field(description="Which estimator produced each feature.")
    audio_url: str | None = Field(
        description="Streams the audio (HTTP Range) when moodtune has the file; else null."
    )
    cover_url: str = Field(description="Cover art, or a generated placeholder.")
    non_music: str | None = Field(
        description="Why the track is flagged as not music (noise, speech, …); null for music. "
        "Flagged tracks are never recommended unless asked for."
    )
    music_likelihood: float | None = Field(
        description="0..1 from the audio check of a library file; null for catalog rows."
    )

    @classmethod
    def from_track(cls, track: Track) -> "TrackOut":
        return cls(
            id=track.id,
            title=track.title,
            artists=track.artists or [],
            album=track.album,
            year=track.year,
            genres=[g.name for g in track.genres],
            spotify_id=track.spotify_id,
            spotify_url=f"https://open.spotify.com/track/{track.spotify_id}"
            if track.spotify_id
            else None,
            source=track.source,
            features={f: getattr(track, f) for f in FEATURE_FIELDS},
            estimators=track.estimators,
            audio_url=f"{API_PREFIX}/tracks/{track.id}/audio"
            if track.audio_path or track.audio_key
            else None,
            cover_url=f"{API_PREFIX}/tracks/{track.id}/cover",
            non_music=track.non_music,
            music_likelihood=track.music_likelihood,
        )


class SimilarTrackOut(TrackOut):
    similarity: float = Field(description="Cosine similarity of the audio embeddings, -1..1.")
    reasons: list[str]


class SimilarOut(BaseModel):
    track: TrackOut
    tracks: list[SimilarTrackOut]


class TasteOut(BaseModel):
    """What moodtune has learned of this listener's taste so far."""

    events: int
    liked: int = Field(description="Tracks with a positive signal (likes, completed plays).")
    disliked: int = Field(description="Tracks with a negative signal (dislikes, early skips).")
    model: str
    valence: float | None = Field(description="Typical valence of liked tracks, 0..1.")
    energy: float | None = Field(description="Typical energy of liked tracks, 0..1.")
    tempo: float | None = Field(description="Typical tempo of liked tracks, BPM.")
    top_genres: list[str]
    top_styles: list[str] = Field(description="Styles the audio model hears in liked tracks.")


class TrackPage(BaseModel):
    items: list[TrackOut]
    total: int
    limit: int
    offset: int


class GenreOut(BaseModel):
    name: str
    tracks: int


def _not_nullable(schema: dict[str, Any]) -> None:
    """Show an optional field as its type alone: leaving it out is how it is optional."""
    variants = schema.pop("anyOf", [])
    schema.update(next((v for v in variants if v.get("type") != "null"), {}))
    schema.pop("default", None)


class RecommendIn(BaseModel):
    """A mood (one ``emotion`` or ``emotions`` probabilities) and the listener's parameters."""

    # The mood is exactly one of the two fields (null is not a value of either).
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["emotion"]}, {"required": ["emotions"]}]},
    )

    emotion: EmotionName | None = Field(
        default=None, examples=["sad"], json_schema_extra=_not_nullable
    )
    emotions: dict[EmotionName, Probability] | None = Field(
        default=None,
        description="Probabilities per emotion; absent labels count as 0. Values that do not "
        "sum to 1 are normalised (the response says so in mood.normalized).",
        examples=[{"sad": 0.7, "neutral": 0.3}],
        json_schema_extra=_not_nullable,
    )
    strategy: Literal["match", "uplift", "calm", "journey"] = "match"
    goal: Literal["auto", "uplift", "calm"] = Field(
        default="auto",
        description="Journey destination; auto calms angry/fearful moods, lifts others.",
    )
    n: Annotated[int, Field(ge=1, le=100), StrictNumber] = Field(
        default=10, description="Playlist length."
    )
    genres: list[str] = Field(default=[], max_length=3, description="Up to 3 genres (GET /genres).")
    popularity: Literal["mainstream", "medium", "low", "any"] = "any"
    explicit: StrictBool = Field(default=True, description="Allow tracks marked explicit.")
    playable_only: StrictBool = Field(
        default=False,
        description="Only tracks moodtune can stream itself (your analysed music library).",
    )
    personalization: Literal["low", "medium", "high"] = Field(
        default="medium",
        description="How much the listener's taste (learned from their likes, dislikes and "
        "skips) weighs against the mood: low = not at all, medium = 30 %, high = 60 %.",
    )
    seed: Annotated[int, Field(ge=0, le=INT32_MAX), StrictNumber] | None = Field(
        default=None, description="Same seed, same playlist."
    )
    preset: str = Field(
        default="heard",
        description=f"Ranking preset: {', '.join(PRESETS)}. 'heard' ranks by where listeners "
        "hear each track (learned from human mood labels); the others by feature targets only.",
        json_schema_extra={"enum": list(PRESETS)},
    )
    include_non_music: StrictBool = Field(
        default=False,
        description="Also rank tracks flagged as not music (silence, noise, speech, rain, …).",
    )
    listener_id: str | None = Field(
        default=None,
        description="Ignored: the listener is the one behind the moodtune_listener cookie, so "
        "nobody can use another listener's taste.",
    )

    @field_validator("emotion", "emotions", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _one_mood(self) -> "RecommendIn":
        if (self.emotion is None) == (self.emotions is None):
            raise ValueError("give exactly one of 'emotion' or 'emotions'")
        return self

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(PRESETS)}")
        return value

    def params(self) -> PlaylistParams:
        return PlaylistParams(
            emotions=self.emotion
            if self.emotion is not None
            else {str(k): v for k, v in (self.emotions or {}).items()},
            strategy=self.strategy,
            n=self.n,
            genres=tuple(self.genres),
            popularity=self.popularity,
            allow_explicit=self.explicit,
            playable_only=self.playable_only,
            personalization=self.personalization,
            seed=self.seed,
            preset=self.preset,
            goal=self.goal,
            include_non_music=self.include_non_music,
        )


class MoodOut(BaseModel):
    emotions: dict[str, float]
    dominant: str
    valence: float
    arousal: float
    normalized: bool = Field(
        description="True when the input probabilities were rescaled to sum to 1."
    )


class TargetOut(BaseModel):
    strategy: str
    goal: str | None
    preset: str
    valence: float
    arousal: float
    features: dict[str, float] = Field(description="Feature targets of the (first) ranking target.")
    weights: dict[str, float]
    path: list[tuple[float, float]] = Field(
        description="(valence, arousal) per target; a journey has one per track."
    )


class HeardMoodOut(BaseModel):
    """Where listeners hear the track on the valence/arousal circumplex (-1..1 each)."""

    valence: float
    arousal: float
    uncertainty: float = Field(description="Spread of the placement, circumplex units.")
    quadrant: Literal["Q1", "Q2", "Q3", "Q4"] = Field(
        description="Most probable: Q1 happy, Q2 tense/angry, Q3 sad, Q4 calm."
    )
    probability: float = Field(description="How sure the model is of that quadrant, 0..1.")
    source: Literal["features", "audio"] = Field(
        description="Placed from catalog features and genres, or by the audio model."
    )


class RankedTrackOut(TrackOut):
    position: int
    score: float = Field(description="0..1, higher fits better.")
    reasons: list[str]
    heard_mood: HeardMoodOut


class RecommendationOut(BaseModel):
    mood: MoodOut
    target: TargetOut
    seed: int
    tracks: list[RankedTrackOut]

    @classmethod
    def from_result(cls, result: PlaylistResult) -> "RecommendationOut":
        plan = result.plan
        first = plan.targets[0]
        return cls(
            mood=MoodOut(
                emotions={e: round(float(p), 4) for e, p in zip(EMOTIONS, plan.probs, strict=True)},
                dominant=plan.dominant,
                valence=round(float(plan.point[0]), 4),
                arousal=round(float(plan.point[1]), 4),
                normalized=plan.normalized,
            ),
            target=TargetOut(
                strategy=plan.strategy,
                goal=plan.goal_name,
                preset=plan.preset,
                valence=round(float(plan.goal[0]), 4),
                arousal=round(float(plan.goal[1]), 4),
                features={k: round(float(v), 4) for k, v in first.values.items()},
                weights=dict(first.weights),
                path=[(round(float(v), 4), round(float(a), 4)) for v, a in plan.path],
            ),
            seed=result.seed,
            tracks=[
                RankedTrackOut(
                    **TrackOut.from_track(result.tracks[r.id]).model_dump(),
                    position=i + 1,
                    score=r.score,
                    reasons=list(r.reasons),
                    heard_mood=HeardMoodOut(**asdict(r.heard)),
                )
                for i, r in enumerate(result.ranked)
            ],
        )


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track_id: DbId
    kind: Literal["play", "like", "dislike", "skip", "complete"]
    position_ms: Annotated[int, Field(ge=0, le=INT32_MAX), StrictNumber] | None = Field(
        default=None, description="Playback position, for skips."
    )


class FeedbackOut(BaseModel):
    id: int
    listener_id: str
    track_id: int
    kind: str
    position_ms: int | None
    created_at: datetime


class PlaylistItemIn(BaseModel):
    track_id: DbId
    score: Annotated[float, Field(allow_inf_nan=False), StrictNumber] | None = None
    reasons: list[Annotated[str, Field(max_length=500)]] = Field(default=[], max_length=10)


class PlaylistIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tracks: list[PlaylistItemIn] = Field(min_length=1, max_length=500)
    params: dict[str, Any] = Field(
        default={}, description="The request that produced it, kept for reference."
    )


class PlaylistItemOut(BaseModel):
    position: int
    score: float | None
    reasons: list[str]
    track: TrackOut


class PlaylistOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    params: dict[str, Any]
    tracks: list[PlaylistItemOut]

    @classmethod
    def from_playlist(cls, playlist: Playlist) -> "PlaylistOut":
        return cls(
            id=playlist.id,
            name=playlist.name,
            created_at=playlist.created_at,
            params=playlist.params,
            tracks=[
                PlaylistItemOut(
                    position=i.position + 1,
                    score=i.score,
                    reasons=i.reasons,
                    track=TrackOut.from_track(i.track),
                )
                for i in playlist.items
            ],
        )


class PlaylistSummary(BaseModel):
    id: int
    name: str
    created_at: datetime
    track_count: int


class ListenerOut(BaseModel):
    id: str
    created_at: datetime | None = Field(
        description="When this listener first wrote something (feedback, a playlist); null "
        "before that, since reading creates nothing."
    )


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]
    catalog: dict[str, int]


UncertainReason = Literal["close_call", "small_face"]


class FaceOut(BaseModel):
    box: list[int] = Field(description="[x, y, width, height] in pixels of the upright photo.")
    score: float = Field(description="Detector confidence, 0..1.")
    emotions: dict[str, float] = Field(
        description="Calibrated probabilities of the 7 FER2013 classes."
    )
    dominant: str
    uncertain: bool = Field(description="True when this reading should be confirmed.")
    uncertain_reasons: list[UncertainReason]


class PhotoEmotionsOut(BaseModel):
    faces: list[FaceOut] = Field(description="Largest face first.")
    width: int
    height: int
    uncertain: bool = Field(
        description="True when the blended mood (what a playlist is built on) is a guess: "
        "offer the listener a choice instead of trusting it."
    )
    uncertain_reasons: list[UncertainReason] = Field(
        description="close_call: the top emotion beats the second by less than the model's "
        "uncertain_margin; small_face: every face is under 48 px in the analysed photo."
    )


class MoodPlaylistOut(RecommendationOut):
    photo: PhotoEmotionsOut
