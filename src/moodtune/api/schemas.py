"""Pydantic request and response models: the JSON contract of DESIGN.md section 6."""

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)

from moodtune.catalog.models import Playlist, Track
from moodtune.i18n import DEFAULT_LANG, render_reason, strings
from moodtune.recommend import EMOTIONS, PRESETS
from moodtune.recommend.reasons import NOTE, Reason
from moodtune.service import PlaylistParams, PlaylistResult

API_PREFIX = "/api/v1"
EmotionName = Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
FeelingName = Literal["calm", "tired", "focused", "bored", "content"]

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
            audio_url=f"{API_PREFIX}/tracks/{track.id}/audio" if track.streamable else None,
            cover_url=f"{API_PREFIX}/tracks/{track.id}/cover",
            non_music=track.non_music,
            music_likelihood=track.music_likelihood,
        )


ReasonParamValue = Annotated[str, Field(max_length=200)] | int | float


class ReasonOut(BaseModel):
    """Why a track is here: a code and its parameters (the page renders them in the listener's
    language from ``web/i18n``), and ``text``, that sentence in the request's language."""

    code: str = Field(examples=["heard_listeners_sure"])
    params: dict[str, ReasonParamValue] = Field(
        examples=[{"quadrant": "quadrant_Q3", "sure": 72, "intent": "intent_match"}]
    )
    text: str = Field(examples=["Listeners hear it as sad and subdued (72% sure)"])

    @classmethod
    def of(cls, reason: Reason, lang: str) -> "ReasonOut":
        return cls(code=reason.code, params=dict(reason.params), text=render_reason(reason, lang))


def reasons_out(reasons: Sequence[Reason], lang: str) -> list[ReasonOut]:
    return [ReasonOut.of(r, lang) for r in reasons]


def _known_reason_code(code: str) -> str:
    if f"reason_{code}" not in strings(DEFAULT_LANG):
        raise ValueError(f"unknown reason code {code!r}")
    return code


class ReasonIn(BaseModel):
    """A reason as the API gave it (``text`` is ignored: it is rendered again when read)."""

    model_config = ConfigDict(extra="ignore")

    code: Annotated[str, Field(max_length=60), AfterValidator(_known_reason_code)]
    params: dict[Annotated[str, Field(max_length=40)], ReasonParamValue] = Field(
        default={}, max_length=12
    )

    def reason(self) -> Reason:
        return Reason(self.code, self.params)


class SimilarTrackOut(TrackOut):
    similarity: float = Field(description="Cosine similarity of the audio embeddings, -1..1.")
    reasons: list[ReasonOut]


class SimilarOut(BaseModel):
    track: TrackOut
    tracks: list[SimilarTrackOut]


class CatalogSummaryOut(BaseModel):
    tracks: int
    explicit: int = Field(description="Tracks marked explicit.")
    explicit_unknown: int = Field(
        description="Tracks without an explicit flag (kept by the filter)."
    )
    playable: int = Field(description="Tracks this server can stream (the analysed library).")


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


class MoodPointIn(BaseModel):
    """A point on the valence/arousal circumplex, as the mood map shows it."""

    model_config = ConfigDict(extra="forbid")

    valence: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False), StrictNumber]
    arousal: Annotated[float, Field(ge=-1, le=1, allow_inf_nan=False), StrictNumber]


_MOOD_FIELDS = ("emotion", "emotions", "point", "feeling")


class RecommendIn(BaseModel):
    """A mood and the listener's parameters. The mood is exactly one of: ``emotion``,
    ``emotions`` probabilities, a ``point`` on the circumplex, or a named ``feeling``."""

    # Null is not a value of any mood field: leave the others out.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": [f]} for f in _MOOD_FIELDS]},
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
    point: MoodPointIn | None = Field(
        default=None,
        description="A mood set by hand on the map: (valence, arousal), each -1..1.",
        examples=[{"valence": -0.4, "arousal": -0.6}],
        json_schema_extra=_not_nullable,
    )
    feeling: FeelingName | None = Field(
        default=None,
        description="A named feeling for a neutral-looking face: calm (0.55, -0.55), tired "
        "(-0.10, -0.75), focused (0.25, 0.30), bored (-0.45, -0.45), content (0.75, -0.25).",
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

    @field_validator(*_MOOD_FIELDS, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("leave the field out instead of sending null")
        return value

    @model_validator(mode="after")
    def _one_mood(self) -> "RecommendIn":
        if sum(getattr(self, f) is not None for f in _MOOD_FIELDS) != 1:
            raise ValueError("give exactly one of 'emotion', 'emotions', 'point' or 'feeling'")
        return self

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            raise ValueError(f"unknown preset {value!r}; known: {', '.join(PRESETS)}")
        return value

    def params(self) -> PlaylistParams:
        emotions: str | dict[str, float] | None = self.emotion
        if self.emotions is not None:
            emotions = {str(k): v for k, v in self.emotions.items()}
        return PlaylistParams(
            emotions=emotions,
            point=(self.point.valence, self.point.arousal) if self.point else None,
            feeling=self.feeling,
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
    emotions: dict[str, float] = Field(
        description="Probabilities; for a point or a feeling, the nearest emotion's."
    )
    dominant: str
    feeling: str | None = Field(default=None, description="The named feeling, if one was given.")
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
    reasons: list[ReasonOut]
    heard_mood: HeardMoodOut


class RecommendationOut(BaseModel):
    mood: MoodOut
    target: TargetOut
    seed: int
    tracks: list[RankedTrackOut]

    @classmethod
    def from_result(cls, result: PlaylistResult, lang: str = DEFAULT_LANG) -> "RecommendationOut":
        plan = result.plan
        first = plan.targets[0]
        return cls(
            mood=MoodOut(
                emotions={e: round(float(p), 4) for e, p in zip(EMOTIONS, plan.probs, strict=True)},
                dominant=plan.dominant,
                feeling=plan.feeling,
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
            tracks=ranked_tracks_out(result, lang),
        )


def ranked_tracks_out(result: PlaylistResult, lang: str) -> list[RankedTrackOut]:
    """A ranked playlist's tracks, in order, as responses show them."""
    return [
        RankedTrackOut(
            **TrackOut.from_track(result.tracks[r.id]).model_dump(),
            position=i + 1,
            score=r.score,
            reasons=reasons_out(r.reasons, lang),
            heard_mood=HeardMoodOut(**asdict(r.heard)),
        )
        for i, r in enumerate(result.ranked)
    ]


class AnalysisOut(BaseModel):
    """What moodtune hears in an uploaded track, and tracks like it."""

    style: dict[str, float] = Field(description="Style probabilities, most likely first.")
    heard_mood: HeardMoodOut
    features: dict[str, float | int] = Field(
        description="valence, energy, danceability, tempo (BPM), loudness (dB), key (0-11), "
        "mode (1 major), duration_ms"
    )
    key_name: str | None = Field(description="Key and mode as names, e.g. C♯ minor.")
    estimators: dict[str, str] = Field(description="Which estimator produced each feature.")
    duration_s: float
    analysed_s: float = Field(description="Seconds decoded: long files are sampled in windows.")
    music_likelihood: float
    non_music: str | None = Field(description="Why it is not music, if it is not.")
    spectrogram: str | None = Field(
        description="Mel spectrogram of the first window, PNG data URI."
    )
    catalog: list[RankedTrackOut] = Field(description="Catalog tracks heard near it.")
    library: list[SimilarTrackOut] = Field(description="Library tracks that sound alike.")


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
    reasons: list[ReasonIn | Annotated[str, Field(max_length=500)]] = Field(
        default=[],
        max_length=10,
        description="Reasons as the recommendation gave them, or free text (kept as a note).",
    )

    def stored_reasons(self) -> list[dict[str, object]]:
        return [
            (r.reason() if isinstance(r, ReasonIn) else Reason(NOTE, {"text": r})).to_json()
            for r in self.reasons
        ]


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
    reasons: list[ReasonOut]
    track: TrackOut


class PlaylistOut(BaseModel):
    id: int
    name: str
    created_at: datetime
    params: dict[str, Any]
    tracks: list[PlaylistItemOut]

    @classmethod
    def from_playlist(cls, playlist: Playlist, lang: str = DEFAULT_LANG) -> "PlaylistOut":
        return cls(
            id=playlist.id,
            name=playlist.name,
            created_at=playlist.created_at,
            params=playlist.params,
            tracks=[
                PlaylistItemOut(
                    position=i.position + 1,
                    score=i.score,
                    reasons=reasons_out([Reason.from_json(r) for r in i.reasons], lang),
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
    shared: bool = Field(description="It has an active share link.")


class PlaylistRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)


class ShareOut(BaseModel):
    token: str
    url: str = Field(description="The read-only page a phone opens.")
    qr_svg_url: str
    qr_png_url: str
    created_at: datetime
    loopback: bool = Field(
        description="The link names 127.0.0.1 or localhost: a phone cannot open it. Set "
        "MOODTUNE_PUBLIC_URL or open the page at the server's network address.",
    )


class SourceOut(BaseModel):
    name: str
    kind: str
    synced_at: datetime | None


class PushIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(min_length=1, max_length=60, description="A source's name.")


class PushOut(BaseModel):
    source: str
    remote_id: str = Field(description="The playlist's id on the server.")
    pushed: int = Field(description="Songs in the server playlist.")
    skipped: int = Field(description="Tracks that do not live on that server.")


class SpotifyStatusOut(BaseModel):
    configured: bool = Field(description="MOODTUNE_SPOTIFY_CLIENT_ID is set on this server.")
    connected: bool = Field(description="This browser's listener is logged in to Spotify.")
    display_name: str | None
    premium: bool = Field(description="Spotify's player can play full tracks in the page.")
    redirect_uri: str | None = Field(description="The redirect URI to register in the app.")


class SpotifyPlayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    track_id: DbId


class SpotifyTokenOut(BaseModel):
    access_token: str
    expires_at: float = Field(description="Epoch seconds.")


class SavedToSpotifyOut(BaseModel):
    playlist_id: str
    url: str | None
    added: int
    missing: int = Field(description="Tracks without a Spotify id (not added).")


class SharedPlaylistOut(BaseModel):
    """A shared playlist as anyone with the link sees it: no ids of the owner, no parameters."""

    name: str
    created_at: datetime
    tracks: list[PlaylistItemOut]


class ListenerOut(BaseModel):
    id: str
    created_at: datetime | None = Field(
        description="When this listener first wrote something (feedback, a playlist); null "
        "before that, since reading creates nothing."
    )


class HealthOut(BaseModel):
    status: Literal["ok"]


class SnapshotOut(BaseModel):
    key: str | None = Field(
        description="The catalog snapshot this process ranks with (one per catalog version, "
        "shared by every process that uses the same snapshot directory); null when built in "
        "memory only."
    )
    origin: Literal["mapped", "fetched", "built"] = Field(
        description="mapped: read from a snapshot another process (or an earlier start) wrote; "
        "fetched: downloaded from object storage (another machine built it), then mapped; "
        "built: built from the database by this process."
    )


class ReadyOut(BaseModel):
    status: Literal["ready"]
    database: Literal["ok"]
    catalog: dict[str, int]
    snapshot: SnapshotOut


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
