"""Settings from the environment (prefix ``MOODTUNE_``); the defaults make ``make run`` work."""

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "default_data_dir"]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/moodtune`` (``~/.local/share/moodtune``): one place for CLI and server."""
    import os

    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "moodtune"


class Settings(BaseSettings):
    """Everything configurable; read once by the CLI or ``create_app`` and passed down."""

    model_config = SettingsConfigDict(env_prefix="MOODTUNE_", env_file=None, extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file moodtune.db in data_dir.",
    )
    storage_url: str = Field(
        default="",
        description="Where copied audio and cover art go: a directory path or file:// URL "
        "(default: objects/ in data_dir) or s3://bucket/prefix (needs moodtune[s3]).",
    )
    snapshot_dir: Path | None = Field(
        default=None,
        description="Where catalog snapshots (memory-mapped ranking data, one per catalog "
        "version) are written and read; default snapshots/ in data_dir. Replicas on one "
        "machine can share it.",
    )
    snapshot_lock: bool = Field(
        default=True,
        description="A server locks what every request reads of the snapshot in RAM (mlock), "
        "so that requests do not wait on disk for pages the OS reclaimed; needs a locked-memory "
        "limit (ulimit -l) that large, else it keeps what fits and logs a warning.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    face_detector: Literal["yunet", "haar"] = Field(
        default="yunet", description="YuNet (default) or the OpenCV Haar cascade."
    )
    catalog_refresh_s: float = Field(
        default=10.0,
        ge=0,
        description="How often a server re-checks the DB for catalog changes made by other "
        "processes (CLI imports, other replicas); 0 checks on every request.",
    )
    public_url: str = Field(
        default="",
        description="The address phones open share links at (e.g. https://music.example.org); "
        "empty means the address the page was opened with.",
    )
    spotify_client_id: str = Field(
        default="",
        description="A Spotify app's client id: turns on Spotify login (PKCE, no secret).",
    )
    spotify_accounts_url: str = Field(
        default="https://accounts.spotify.com", description="Spotify's accounts service."
    )
    spotify_api_url: str = Field(default="https://api.spotify.com/v1", description="Web API.")
    max_audio_bytes: int = Field(
        default=50 * 1024 * 1024, gt=0, description="Largest track POST /analyze accepts."
    )
    cookie_secure: bool = Field(
        default=False, description="Send the listener cookie only over HTTPS."
    )

    @property
    def snapshots(self) -> Path:
        return self.snapshot_dir or self.data_dir / "snapshots"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _normalise_database_url(self) -> "Settings":
        self.database_url = normalise_database_url(self.database_url, data_dir=self.data_dir)
        self.storage_url = self.storage_url or str(self.data_dir / "objects")
        if self.env == "production" and not self.cookie_secure:
            raise ValueError("MOODTUNE_COOKIE_SECURE must be true when MOODTUNE_ENV=production")
        return self


def normalise_database_url(url: str, *, data_dir: Path) -> str:
    """Fill the SQLite default and pick the psycopg 3 driver for bare PostgreSQL URLs."""
    if not url:
        return f"sqlite:///{data_dir / 'moodtune.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
