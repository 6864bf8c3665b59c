"""SQLAlchemy 2 tables: tracks and genres, listeners, feedback events, saved playlists."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "FEEDBACK_KINDS",
    "Base",
    "FeedbackEvent",
    "Genre",
    "Listener",
    "Playlist",
    "PlaylistItem",
    "Track",
    "TrackEmbedding",
    "track_genres",
]

#: Named constraints so SQLite (batch mode) and PostgreSQL migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

FEEDBACK_KINDS: tuple[str, ...] = ("play", "like", "dislike", "skip", "complete")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out: SQLite stores no offset and would hand back naive times."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


track_genres = Table(
    "track_genres",
    Base.metadata,
    Column("track_id", ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True),
    Column("genre_id", ForeignKey("genres.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Genre(Base):
    __tablename__ = "genres"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)


class Source(Base):
    """A music server whose songs are library tracks (Subsonic). Its password is not here: it
    lives in a 0600 file under the data dir (see moodtune.catalog.sources)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(Text)
    username: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


#: ``tracks.source`` of the tracks that ``moodtune library add`` analysed.
LIBRARY_SOURCE = "library"


class Track(Base):
    """A track from an imported catalog or an analysed file, in DESIGN.md section 5 vocabulary."""

    __tablename__ = "tracks"
    __table_args__ = (
        CheckConstraint("key >= -1 AND key <= 11", name="key_range"),
        CheckConstraint("mode IN (0, 1)", name="mode_binary"),
        CheckConstraint("popularity >= 0 AND popularity <= 100", name="popularity_range"),
        CheckConstraint("tempo >= 0 AND tempo <= 300", name="tempo_range"),
        UniqueConstraint("source_id", "remote_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    spotify_id: Mapped[str | None] = mapped_column(String(22), unique=True)
    source: Mapped[str] = mapped_column(
        String(40), index=True, doc="Where the row came from: catalog file name or 'library'."
    )
    title: Mapped[str] = mapped_column(Text)
    artists: Mapped[list[Any]] = mapped_column(JSON, default=list)
    album: Mapped[str | None] = mapped_column(Text)
    release_date: Mapped[str | None] = mapped_column(String(10))
    year: Mapped[int | None] = mapped_column(SmallInteger)
    search_text: Mapped[str] = mapped_column(
        Text, doc="Case-folded title, artists and album for search."
    )
    song_key: Mapped[str | None] = mapped_column(
        Text, doc="The same song under any release (moodtune.recommend.rank.track_song_key)."
    )

    danceability: Mapped[float | None] = mapped_column(Float)
    energy: Mapped[float | None] = mapped_column(Float)
    valence: Mapped[float | None] = mapped_column(Float)
    acousticness: Mapped[float | None] = mapped_column(Float)
    instrumentalness: Mapped[float | None] = mapped_column(Float)
    speechiness: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    tempo: Mapped[float | None] = mapped_column(Float)
    loudness: Mapped[float | None] = mapped_column(Float)
    key: Mapped[int | None] = mapped_column(SmallInteger)
    mode: Mapped[int | None] = mapped_column(SmallInteger)
    time_signature: Mapped[int | None] = mapped_column(SmallInteger)
    popularity: Mapped[int | None] = mapped_column(SmallInteger)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    explicit: Mapped[bool | None] = mapped_column(Boolean)
    estimators: Mapped[dict[str, str] | None] = mapped_column(
        JSON, doc="Feature name -> estimator that produced it (e.g. 'spotify')."
    )
    non_music: Mapped[str | None] = mapped_column(
        String(200),
        index=True,
        doc="Why the track is not music (noise, speech, …); NULL for music. Flagged tracks are "
        "kept and listed but never recommended unless asked for.",
    )
    music_likelihood: Mapped[float | None] = mapped_column(
        Float, doc="0..1 from the audio check of a library file; NULL for catalog rows."
    )

    audio_key: Mapped[str | None] = mapped_column(Text, doc="Object-store key of the audio file.")
    cover_key: Mapped[str | None] = mapped_column(Text, doc="Object-store key of the cover image.")
    audio_path: Mapped[str | None] = mapped_column(
        Text, doc="Absolute path where a library file was found (streamed unless copied)."
    )
    audio_mime: Mapped[str | None] = mapped_column(String(60))
    content_hash: Mapped[str | None] = mapped_column(
        String(64), unique=True, doc="sha256 of the audio file: one row per recording."
    )
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    file_mtime: Mapped[float | None] = mapped_column(
        Float, doc="With audio_path and file_size: an unchanged file is not hashed again."
    )
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), doc="The music server it lives on."
    )
    remote_id: Mapped[str | None] = mapped_column(String(200), doc="The server's id of the song.")
    remote_rev: Mapped[str | None] = mapped_column(
        String(64), doc="Digest of the server's metadata: a changed song is analysed again."
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, index=True
    )

    genres: Mapped[list[Genre]] = relationship(
        secondary=track_genres, lazy="selectin", order_by=Genre.name
    )

    @property
    def streamable(self) -> bool:
        """moodtune can play it: a local file, a stored copy, or a song on a music server."""
        return bool(self.audio_path or self.audio_key or self.source_id)


class TrackEmbedding(Base):
    """The audio CNN's view of an analysed track: embedding, style and quadrant probabilities."""

    __tablename__ = "track_embeddings"

    track_id: Mapped[int] = mapped_column(
        ForeignKey("tracks.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(40), doc="Estimator name of the model (with hash).")
    vector: Mapped[bytes] = mapped_column(LargeBinary, doc="float32 little-endian embedding.")
    style: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    quadrant: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class Listener(Base):
    """An anonymous listener, known by the random id in the browser's cookie."""

    __tablename__ = "listeners"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedbackEvent(Base):
    __tablename__ = "feedback_events"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('play', 'like', 'dislike', 'skip', 'complete')", name="kind_known"
        ),
        CheckConstraint("position_ms IS NULL OR position_ms >= 0", name="position_non_negative"),
        Index("ix_feedback_events_listener_created", "listener_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    listener_id: Mapped[str] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    position_ms: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Playlist(Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    listener_id: Mapped[str] = mapped_column(
        ForeignKey("listeners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, doc="The request that made it."
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    items: Mapped[list["PlaylistItem"]] = relationship(
        order_by="PlaylistItem.position", cascade="all, delete-orphan", lazy="selectin"
    )


class PlaylistShare(Base):
    """A read-only link to a playlist: an unguessable token, kept after revoking so that an old
    link can say "revoked" (410) rather than "never existed" (404)."""

    __tablename__ = "playlist_shares"

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    playlist_id: Mapped[int] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    playlist: Mapped[Playlist] = relationship(lazy="joined")


class PlaylistPush(Base):
    """Where a playlist was pushed on a music server, so pushing again updates that one."""

    __tablename__ = "playlist_pushes"

    playlist_id: Mapped[int] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True
    )
    remote_id: Mapped[str] = mapped_column(String(200))
    pushed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SpotifyLogin(Base):
    """A Spotify login under way: the PKCE verifier waits here for the callback (10 minutes)."""

    __tablename__ = "spotify_logins"

    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    listener_id: Mapped[str] = mapped_column(ForeignKey("listeners.id", ondelete="CASCADE"))
    verifier: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SpotifyAccount(Base):
    """A listener's Spotify login: tokens kept on the server, refreshed when they expire."""

    __tablename__ = "spotify_accounts"

    listener_id: Mapped[str] = mapped_column(
        ForeignKey("listeners.id", ondelete="CASCADE"), primary_key=True
    )
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Float, doc="Epoch seconds.")
    scope: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(Text)
    product: Mapped[str | None] = mapped_column(String(40), doc="premium, free, open, …")
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PlaylistItem(Base):
    __tablename__ = "playlist_items"

    playlist_id: Mapped[int] = mapped_column(
        ForeignKey("playlists.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    score: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)

    track: Mapped[Track] = relationship(lazy="joined")
