"""The ``moodtune`` command line. ``--json`` prints exactly one JSON document on stdout (the API's
schema); logs and progress bars go to stderr. A MoodtuneError exits 1, usage errors exit 2."""

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from moodtune.config import Settings
from moodtune.errors import InvalidInput, MoodtuneError, NotFound

if TYPE_CHECKING:
    from moodtune.catalog.library import Engine
    from moodtune.catalog.snapshot import SnapshotStore

__all__ = ["app"]

app = typer.Typer(help="moodtune: music recommendations from how you feel.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
catalog_app = typer.Typer(help="Track catalogs.", no_args_is_help=True)
emotion_app = typer.Typer(help="Emotions from photos.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate models.", no_args_is_help=True)
library_app = typer.Typer(help="Your own music files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(catalog_app, name="catalog")
app.add_typer(emotion_app, name="emotion")
app.add_typer(eval_app, name="eval")
app.add_typer(library_app, name="library")
source_app = typer.Typer(help="Music servers (Subsonic, Navidrome, …) as library sources.",
                         no_args_is_help=True)  # fmt: skip
app.add_typer(source_app, name="source")
playlist_app = typer.Typer(help="Saved playlists.", no_args_is_help=True)
app.add_typer(playlist_app, name="playlist")

stderr = Console(stderr=True)
BUNDLED_CATALOG = "spotify_tracks.csv.gz"
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
WorkersOption = Annotated[
    int, typer.Option(min=1, max=64, help="Analysis processes (default: CPU cores).")
]
CPU_CORES = max(1, os.cpu_count() or 1)


def _settings() -> Settings:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if settings.log_level != "DEBUG":  # alembic narrates every plugin it loads at INFO
        logging.getLogger("alembic").setLevel(logging.WARNING)
    return settings


@contextmanager
def _errors_exit(as_json: bool) -> Iterator[None]:
    """MoodtuneError -> exit 1 with the error envelope (``--json``) or a one-line message."""
    try:
        try:
            yield
        except Exception as exc:
            translated = _database_error(exc)
            if translated is None:
                raise
            raise translated from exc
    except MoodtuneError as exc:
        if as_json:
            typer.echo(
                json.dumps(
                    {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
                )
            )
        else:
            stderr.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from exc


def _database_error(exc: Exception) -> MoodtuneError | None:
    """A database that cannot be reached or has no schema yet, as an answer that says what to
    do (instead of SQLAlchemy's traceback); None for any other error."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from moodtune.errors import Unavailable

    if not isinstance(exc, OperationalError | ProgrammingError):
        return None
    reason = str(exc.orig)
    if "no such table" in reason or "does not exist" in reason:
        return Unavailable(
            "the database has no moodtune tables yet: run `moodtune init` first (or "
            "`moodtune db upgrade` to create them without the demo catalog)",
            reason=reason,
        )
    first_line = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
    return Unavailable(f"cannot use the database: {first_line}", reason=reason.strip())


def _emit(doc: dict[str, Any], *, as_json: bool, human: Callable[[dict[str, Any]], None]) -> None:
    if as_json:
        typer.echo(json.dumps(doc, ensure_ascii=False))
    else:
        human(doc)


def _session_factory(settings: Settings) -> Any:
    from moodtune.catalog.db import create_db_engine, make_session_factory

    return make_session_factory(create_db_engine(settings.database_url))


def _snapshot_store(settings: Settings) -> "SnapshotStore":
    from moodtune.catalog.snapshot import SnapshotStore

    return SnapshotStore.open(settings.snapshots, settings.storage_url)


def _publish_snapshot(settings: Settings) -> None:
    """Write the catalog's current snapshot now (after a change), so that servers and later
    commands map it instead of each building it from SQL."""
    from moodtune.catalog.index import load_snapshot

    with stderr.status("writing the catalog snapshot"), _session_factory(settings)() as session:
        load_snapshot(session, _snapshot_store(settings))


class _JsonLogFormatter(logging.Formatter):
    """One JSON object per log line, for log shippers (``serve --json``)."""

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    as_json: Annotated[bool, typer.Option("--json", help="Log JSON lines on stderr.")] = False,
) -> None:
    """Serve the web app and the REST API (OpenAPI docs at /docs).

    For more throughput run several instances behind a load balancer (each keeps its own
    in-memory index and follows catalog changes in the shared database).
    """
    import uvicorn

    from moodtune.api import create_app

    settings = _settings()
    if as_json:
        for handler in logging.getLogger().handlers:
            handler.setFormatter(_JsonLogFormatter())
    stderr.print(f"moodtune on http://{host}:{port}  (API docs: http://{host}:{port}/docs)")
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn logs through the root handler configured above
    )


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
    as_json: JsonFlag = False,
) -> None:
    """Create or migrate the database schema (idempotent)."""
    from moodtune.catalog.db import create_db_engine, migrate

    settings = _settings()
    current = migrate(create_db_engine(settings.database_url), revision)
    _emit(
        {"revision": current},
        as_json=as_json,
        human=lambda d: stderr.print(f"database at revision {d['revision']}"),
    )


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision; 'base' drops every table.")],
    as_json: JsonFlag = False,
) -> None:
    """Downgrade the database schema (before reinstalling an older moodtune)."""
    from moodtune.catalog.db import create_db_engine, downgrade

    current = downgrade(create_db_engine(_settings().database_url), revision)
    _emit(
        {"revision": current},
        as_json=as_json,
        human=lambda d: stderr.print(f"database at revision {d['revision']}"),
    )


def _run_import(
    path: Path, settings: Settings, *, batch_size: int, source: str | None
) -> dict[str, Any]:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    from moodtune.catalog.importers import import_catalog

    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
    ) as progress:
        task = progress.add_task(path.name, total=path.stat().st_size)
        report = import_catalog(
            path,
            session_factory=_session_factory(settings),
            batch_size=batch_size,
            source=source,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    return report.as_dict()


def _print_import(doc: dict[str, Any]) -> None:
    stderr.print(
        f"{doc['file']}: {doc['rows']} rows, {doc['inserted']} inserted, {doc['updated']} updated, "
        f"{doc['unchanged']} unchanged, {doc['duplicates']} duplicates, {doc['rejected']} rejected"
    )
    if doc["non_music"]:
        kinds = ", ".join(f"{n} {k}" for k, n in doc["non_music_by_reason"].items())
        stderr.print(
            f"  {doc['non_music']} flagged as not music (kept, never recommended): {kinds}"
        )
    for err in doc["errors"][:20]:
        stderr.print(f"  line {err['line']}: {err['reason']}", highlight=False)
    if doc["rejected"] > 20:
        stderr.print(f"  … {doc['rejected'] - 20} more (use --json for the list)")


@catalog_app.command("import")
def catalog_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="CSV or CSV.gz (Kaggle or Exportify columns)."
        ),
    ],
    batch_size: Annotated[
        int, typer.Option(min=1, max=50_000, help="Rows per transaction.")
    ] = 2000,
    source: Annotated[
        str | None, typer.Option(help="Source name stored on each track (default: file name).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Import or update tracks with Spotify audio features; bad rows are reported, not fatal."""
    settings = _settings()
    with _errors_exit(as_json):
        doc = _run_import(file, settings, batch_size=batch_size, source=source)
        _publish_snapshot(settings)
    _emit(doc, as_json=as_json, human=_print_import)


@app.command()
def init(as_json: JsonFlag = False) -> None:
    """First run: migrate the database, create the storage folder or bucket, and import the
    bundled demo catalog if it has no tracks."""
    from moodtune.catalog import repo
    from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
    from moodtune.storage import open_storage

    settings = _settings()
    engine = create_db_engine(settings.database_url)
    revision = migrate(engine)
    open_storage(settings.storage_url).prepare()
    with make_session_factory(engine)() as session:
        tracks = repo.track_count(session=session)
    doc: dict[str, Any] = {"revision": revision, "tracks": tracks, "catalog_import": None}
    if tracks == 0:
        with resources.as_file(resources.files("moodtune.data").joinpath(BUNDLED_CATALOG)) as path:
            doc["catalog_import"] = _run_import(
                path, settings, batch_size=2000, source="demo-catalog"
            )
        doc["tracks"] = doc["catalog_import"]["inserted"]
        _publish_snapshot(settings)
    _emit(
        doc,
        as_json=as_json,
        human=lambda d: stderr.print(
            f"database at revision {d['revision']}, {d['tracks']} tracks"
            + (" (demo catalog imported)" if d["catalog_import"] else "")
        ),
    )


@app.command()
def recommend(
    emotion: Annotated[
        str | None,
        typer.Option(help="One emotion: angry, disgust, fear, happy, sad, surprise, neutral."),
    ] = None,
    emotions: Annotated[
        str | None,
        typer.Option(help='Probabilities as JSON, e.g. \'{"sad": 0.7, "neutral": 0.3}\'.'),
    ] = None,
    strategy: Annotated[
        Literal["match", "uplift", "calm", "journey"],
        typer.Option(help="match, uplift, calm or journey."),
    ] = "match",
    n: Annotated[int, typer.Option("--n", min=1, max=100, help="Playlist length.")] = 10,
    genres: Annotated[str | None, typer.Option(help="Up to 3 comma-separated genres.")] = None,
    popularity: Annotated[
        Literal["mainstream", "medium", "low", "any"], typer.Option(help="Popularity band.")
    ] = "any",
    explicit: Annotated[
        bool, typer.Option("--explicit/--no-explicit", help="Allow explicit tracks.")
    ] = True,
    playable_only: Annotated[
        bool,
        typer.Option("--playable-only", help="Only tracks of your analysed music library."),
    ] = False,
    seed: Annotated[int | None, typer.Option(min=0, help="Same seed, same playlist.")] = None,
    preset: Annotated[
        str,
        typer.Option(help="Ranking preset: heard (default), russell, valence_energy, seed002."),
    ] = "heard",
    include_non_music: Annotated[
        bool,
        typer.Option("--include-non-music", help="Also rank tracks flagged as not music."),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Recommend a playlist for an emotion (same JSON as POST /api/v1/recommendations)."""
    from pydantic import ValidationError

    from moodtune.api.schemas import RecommendationOut, RecommendIn
    from moodtune.catalog.index import load_snapshot
    from moodtune.service import recommend_playlist

    settings = _settings()
    with _errors_exit(as_json):
        try:
            mood = {"emotion": emotion} if emotion is not None else {}
            if emotions:
                mood["emotions"] = json.loads(emotions)
            body = RecommendIn(
                **mood,
                strategy=strategy,
                n=n,
                genres=[g.strip() for g in (genres or "").split(",") if g.strip()],
                popularity=popularity,
                explicit=explicit,
                playable_only=playable_only,
                seed=seed,
                preset=preset,
                include_non_music=include_non_music,
            )
        except (ValidationError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"invalid parameters: {_first_error(exc)}") from exc
        with _session_factory(settings)() as session:
            snapshot = load_snapshot(session, _snapshot_store(settings))
            result = recommend_playlist(body.params(), matrix=snapshot.matrix, session=session)
            doc = RecommendationOut.from_result(result).model_dump(mode="json")
    _emit(doc, as_json=as_json, human=_print_playlist)


def _first_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "parameters"
        return f"{where}: {err['msg']}"
    return str(exc)


def _print_playlist(doc: dict[str, Any]) -> None:
    mood, target = doc["mood"], doc["target"]
    console = Console()
    console.print(
        f"mood: {mood['dominant']} (valence {mood['valence']:+.2f}, "
        f"arousal {mood['arousal']:+.2f}) · strategy: {target['strategy']} · seed {doc['seed']}",
        highlight=False,
    )
    table = Table("#", "track", "score", "why")
    for t in doc["tracks"]:
        table.add_row(
            str(t["position"]),
            f"{t['title']}\n[dim]{', '.join(t['artists'])}[/dim]",
            f"{t['score']:.3f}",
            "\n".join(r["text"] for r in t["reasons"]),
        )
    console.print(table)


@emotion_app.command("detect")
def emotion_detect(
    image: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="JPEG, PNG, WebP or HEIC photo.")
    ],
    detector: Annotated[str, typer.Option(help="yunet or haar.")] = "yunet",
    as_json: JsonFlag = False,
) -> None:
    """Find the faces in IMAGE and show each face's emotion probabilities."""
    from moodtune.vision.pipeline import EmotionPipeline

    settings = _settings()
    with _errors_exit(as_json):
        pipeline = EmotionPipeline.default(
            detector=detector,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
        )
        doc = pipeline.analyse(image.read_bytes()).as_dict()
    _emit(doc, as_json=as_json, human=_print_faces)


def _print_faces(doc: dict[str, Any]) -> None:
    console = Console()
    console.print(f"{len(doc['faces'])} face(s) in a {doc['width']}x{doc['height']} photo")
    for face in doc["faces"]:
        top = sorted(face["emotions"].items(), key=lambda kv: -kv[1])[:3]
        shares = ", ".join(f"{k} {v:.0%}" for k, v in top)
        console.print(
            f"  box {face['box']}: [bold]{face['dominant']}[/bold] ({shares})"
            + _uncertainty_note(face),
            highlight=False,
        )
    if doc["uncertain"] and len(doc["faces"]) > 1:
        console.print("  blended mood" + _uncertainty_note(doc), highlight=False)


def _uncertainty_note(reading: dict[str, Any]) -> str:
    reasons = [r.replace("_", " ") for r in reading["uncertain_reasons"]]
    return f" [yellow]uncertain: {', '.join(reasons)}[/yellow]" if reasons else ""


def _library_progress(
    label: str, run: Callable[[Callable[[int, int, float], None]], Any], *, show: bool = True
) -> dict[str, Any]:
    """Run a library job with a progress bar (files, x real time, ETA) on stderr."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("analysing {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=stderr,
        transient=True,
        disable=not show,
    ) as progress:
        task = progress.add_task(label, total=None, rate="")
        started = time.perf_counter()

        def update(done: int, total: int, audio_s: float) -> None:
            elapsed = time.perf_counter() - started
            rate = f"{audio_s / elapsed:.0f}x real time" if audio_s and elapsed else ""
            progress.update(task, completed=done, total=total, rate=rate)

        try:
            report = run(update)
        except KeyboardInterrupt:
            stderr.print("interrupted: finished files are stored; run the same command to resume")
            raise typer.Exit(130) from None
    return report.as_dict()  # type: ignore[no-any-return]


def _run_library_add(
    path: Path,
    settings: Settings,
    *,
    workers: int,
    copy: bool,
    show_progress: bool = True,
    engine: "Engine" = "process",
    ray_address: str | None = None,
) -> dict[str, Any]:
    from moodtune.catalog.library import add_library
    from moodtune.storage import open_storage

    return _library_progress(
        path.name or str(path),
        lambda update: add_library(
            path,
            session_factory=_session_factory(settings),
            storage=open_storage(settings.storage_url),
            workers=workers,
            copy=copy,
            on_progress=update,
            engine=engine,
            ray_address=ray_address,
        ),
        show=show_progress,
    )


def _print_library(doc: dict[str, Any]) -> None:
    stderr.print(
        f"{doc['root']}: {doc['scanned']} audio files, {doc['added']} added, "
        f"{doc['updated']} updated, {doc['unchanged']} unchanged, {doc['moved']} moved, "
        f"{doc['duplicates']} duplicates, "
        f"{len(doc['failed'])} failed, {len(doc['skipped'])} skipped"
        + (f" ({doc['x_real_time']}x real time)" if doc["x_real_time"] else "")
    )
    for item in (doc["failed"] + doc["skipped"])[:20]:
        stderr.print(f"  {item['path']}: {item['reason']}", highlight=False)
    if doc["flagged"]:
        stderr.print(f"{len(doc['flagged'])} flagged as not music (kept, never recommended):")
        for item in doc["flagged"][:20]:
            stderr.print(f"  {item['path']}: {item['reason']}", highlight=False)
    for item in doc["missing"][:20]:
        stderr.print(
            f"  missing: {item['path']} (track {item['id']}; 'moodtune library remove "
            f"{item['id']}' forgets it)",
            highlight=False,
        )


@library_app.command("add")
def library_add(
    path: Annotated[Path, typer.Argument(help="A folder (scanned recursively) or one file.")],
    workers: WorkersOption = CPU_CORES,
    copy: Annotated[
        bool,
        typer.Option(
            "--copy/--reference",
            help="Copy the audio into object storage, or (default) leave it where it is.",
        ),
    ] = False,
    engine: Annotated[
        Literal["process", "ray"],
        typer.Option(
            help="Analyse in this machine's processes, or on Ray (pip install 'moodtune[ray]'): "
            "a local Ray with --workers CPUs, or the cluster at --address."
        ),
    ] = "process",
    address: Annotated[
        str | None,
        typer.Option(
            help="With --engine ray: the cluster to join ('auto', 'ray://host:10001'), one "
            "analysis per CPU it has; its nodes must see PATH at the same path."
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Analyse new audio files under PATH and add them to the catalog; safe to re-run.

    Stops cleanly on Ctrl-C and resumes where it stopped: files already stored are skipped.
    """
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.db import create_db_engine, migrate

        migrate(create_db_engine(settings.database_url))
        if address is not None and engine != "ray":
            raise InvalidInput("--address is the Ray cluster's: use it with --engine ray")
        doc = _run_library_add(
            path, settings, workers=workers, copy=copy, engine=engine, ray_address=address
        )
        _publish_snapshot(settings)
    _emit(doc, as_json=as_json, human=_print_library)


@library_app.command("list")
def library_list(
    flagged: Annotated[
        bool, typer.Option("--flagged", help="Only files flagged as not music.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """List the tracks of your music library, with why a file is flagged as not music."""
    from moodtune.catalog.library import library_tracks

    settings = _settings()
    with _errors_exit(as_json), _session_factory(settings)() as session:
        tracks = library_tracks(session=session, flagged_only=flagged)
        doc = {
            "tracks": [
                {
                    "id": t.id,
                    "path": t.audio_path,
                    "title": t.title,
                    "artists": t.artists or [],
                    "duration_s": round(t.duration_ms / 1000, 1) if t.duration_ms else None,
                    "non_music": t.non_music,
                    "music_likelihood": t.music_likelihood,
                }
                for t in tracks
            ],
            "count": len(tracks),
            "flagged": sum(t.non_music is not None for t in tracks),
        }
    _emit(doc, as_json=as_json, human=_print_library_list)


def _print_library_list(doc: dict[str, Any]) -> None:
    console = Console()
    table = Table("id", "track", "file", "not music because")
    for t in doc["tracks"]:
        table.add_row(
            str(t["id"]),
            f"{t['title']}\n[dim]{', '.join(t['artists'])}[/dim]",
            str(t["path"]),
            t["non_music"] or "",
        )
    console.print(table)
    console.print(f"{doc['count']} tracks, {doc['flagged']} flagged as not music")


@library_app.command("remove")
def library_remove(
    target: Annotated[
        str, typer.Argument(help="A track id, an audio file, or a folder (everything under it).")
    ],
    as_json: JsonFlag = False,
) -> None:
    """Forget library tracks (with their likes and playlist entries); files stay on disk."""
    from moodtune.catalog.library import remove_from_library
    from moodtune.storage import open_storage

    settings = _settings()
    with _errors_exit(as_json):
        doc = remove_from_library(
            target,
            session_factory=_session_factory(settings),
            storage=open_storage(settings.storage_url),
        ).as_dict()
    _emit(
        doc,
        as_json=as_json,
        human=lambda d: stderr.print(f"removed {d['count']} track(s) matching {d['target']}"),
    )


@library_app.command("rescan")
def library_rescan(
    everything: Annotated[
        bool, typer.Option("--all", help="Re-analyse every file, not only outdated ones.")
    ] = False,
    workers: WorkersOption = CPU_CORES,
    as_json: JsonFlag = False,
) -> None:
    """Re-analyse library files in place: changed files, files analysed by an older moodtune
    (before the music check, or another audio model), or all with --all. Lists files that are
    gone. Resumable like ``library add``."""
    from moodtune.catalog.library import rescan_library
    from moodtune.storage import open_storage

    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.db import create_db_engine, migrate

        migrate(create_db_engine(settings.database_url))
        doc = _library_progress(
            "library",
            lambda update: rescan_library(
                session_factory=_session_factory(settings),
                storage=open_storage(settings.storage_url),
                workers=workers,
                everything=everything,
                on_progress=update,
            ),
        )
    _emit(doc, as_json=as_json, human=_print_library)


@app.command()
def analyze(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="An audio file.")],
    as_json: JsonFlag = False,
) -> None:
    """Analyse one audio file: features with their estimators, style and embedding size."""
    from moodtune.audio.analysis import analyse_file
    from moodtune.audio.embed import AudioModel

    _settings()
    with _errors_exit(as_json):
        doc = analyse_file(file, AudioModel.from_path()).to_json()
    _emit(doc, as_json=as_json, human=_print_analysis)


def _print_analysis(doc: dict[str, Any]) -> None:
    console = Console()
    table = Table("feature", "value", "estimator")
    for name, value in doc["features"].items():
        table.add_row(name, str(value), doc["estimators"].get(name, ""))
    console.print(table)
    from moodtune.audio.analysis import key_name

    features = doc["features"]
    console.print(f"key: {key_name(features.get('key'), features.get('mode'))}", highlight=False)
    top = sorted(doc["style"].items(), key=lambda kv: -kv[1])[:3]
    console.print("style: " + ", ".join(f"{k} {v:.0%}" for k, v in top), highlight=False)
    console.print(
        f"{doc['duration_s']:.0f} s long, {doc['analysed_s']:.0f} s analysed, "
        f"embedding of {doc['embedding_dim']}",
        highlight=False,
    )


@source_app.command("add")
def source_add(
    kind: Annotated[
        str, typer.Argument(help="Server kind: subsonic (Navidrome, Airsonic, Gonic, …).")
    ],
    name: Annotated[str, typer.Argument(help="A short name: lower-case letters, digits, - and _.")],
    url: Annotated[str, typer.Option(help="The server's address, e.g. https://music.example.org.")],
    user: Annotated[str, typer.Option(help="The user moodtune logs in as.")],
    password_env: Annotated[
        str | None,
        typer.Option(help="Read the password from this environment variable instead of a prompt."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a music server after checking its address and credentials. The password is
    asked for (or read from --password-env), never taken on the command line, and kept in a
    file only the moodtune user can read."""
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.db import create_db_engine, migrate
        from moodtune.catalog.sources import add_source

        password = _source_password(password_env)
        migrate(create_db_engine(settings.database_url))
        source = add_source(
            name,
            kind=kind,
            url=url,
            user=user,
            password=password,
            session_factory=_session_factory(settings),
            data_dir=settings.data_dir,
        )
        doc = _source_doc(source)
    _emit(doc, as_json=as_json, human=lambda d: stderr.print(f"added {d['name']} ({d['url']})"))


def _source_password(env: str | None) -> str:
    if env is None:
        return str(typer.prompt("password", hide_input=True))
    value = os.environ.get(env)
    if not value:
        raise InvalidInput(f"the environment variable {env} is empty or not set")
    return value


def _source_doc(source: Any) -> dict[str, Any]:
    synced = source.synced_at.isoformat() if source.synced_at else None
    return {"name": source.name, "kind": source.kind, "url": source.url,
            "user": source.username, "synced_at": synced}  # fmt: skip


@source_app.command("list")
def source_list(as_json: JsonFlag = False) -> None:
    """The registered music servers and when each was last synced."""
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.sources import list_sources

        with _session_factory(settings)() as session:
            doc = {"sources": [_source_doc(s) for s in list_sources(session=session)]}
    _emit(doc, as_json=as_json, human=_print_sources)


def _print_sources(doc: dict[str, Any]) -> None:
    table = Table("name", "kind", "url", "user", "synced")
    for s in doc["sources"]:
        table.add_row(s["name"], s["kind"], s["url"], s["user"], s["synced_at"] or "never")
    Console().print(table)


@source_app.command("remove")
def source_remove(
    name: Annotated[str, typer.Argument(help="The source's name.")], as_json: JsonFlag = False
) -> None:
    """Forget a music server, its tracks and its password (the server is not touched)."""
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.sources import remove_source

        removed = remove_source(
            name, session_factory=_session_factory(settings), data_dir=settings.data_dir
        )
        doc = {"name": name, "tracks_removed": removed}
    _emit(doc, as_json=as_json, human=lambda d: stderr.print(
        f"removed {d['name']} and its {d['tracks_removed']} tracks"))  # fmt: skip


@source_app.command("sync")
def source_sync(
    name: Annotated[str, typer.Argument(help="The source's name.")],
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Songs downloaded and analysed at once.")
    ] = CPU_CORES,
    as_json: JsonFlag = False,
) -> None:
    """Import the server's songs as library tracks and analyse their audio: new and changed
    songs only, removed ones deleted. Safe to stop and re-run; it goes on where it stopped."""
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.sources import sync_source
        from moodtune.storage import open_storage

        doc = _library_progress(
            name,
            lambda update: sync_source(
                name,
                session_factory=_session_factory(settings),
                storage=open_storage(settings.storage_url),
                data_dir=settings.data_dir,
                workers=workers,
                on_progress=update,
            ),
            show=not as_json,
        )
    _emit(doc, as_json=as_json, human=_print_sync)


def _print_sync(doc: dict[str, Any]) -> None:
    stderr.print(
        f"{doc['source']}: {doc['songs']} songs · {doc['added']} added · {doc['updated']} "
        f"updated · {doc['unchanged']} unchanged · {doc['removed']} removed · "
        f"{len(doc['failed'])} failed · {doc['seconds']:.1f} s",
        highlight=False,
    )
    for failed in doc["failed"]:
        stderr.print(f"  [red]failed[/red] {failed['title']}: {failed['reason']}", highlight=False)


@playlist_app.command("push")
def playlist_push(
    playlist_id: Annotated[int, typer.Argument(help="The playlist's id (GET /playlists).")],
    source: Annotated[str, typer.Option(help="The music server's source name.")],
    as_json: JsonFlag = False,
) -> None:
    """Save a playlist on a music server; pushing again updates the same server playlist."""
    settings = _settings()
    with _errors_exit(as_json):
        from moodtune.catalog.models import Playlist
        from moodtune.catalog.sources import push_playlist

        with _session_factory(settings)() as session:
            playlist = session.get(Playlist, playlist_id)
            if playlist is None:
                raise NotFound(f"playlist {playlist_id} not found", playlist_id=playlist_id)
            doc = push_playlist(
                playlist, source, session=session, data_dir=settings.data_dir
            ).as_dict()
            session.commit()
    _emit(doc, as_json=as_json, human=lambda d: stderr.print(
        f"pushed {d['pushed']} songs to {d['source']} (playlist {d['remote_id']}); "
        f"{d['skipped']} tracks are not on that server"))  # fmt: skip


@eval_app.command("emotion")
def eval_emotion(
    npz: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="FER2013-style .npz.")
    ] = None,
    split: Annotated[str, typer.Option(help="Split of the .npz: train, val or test.")] = "test",
    folder: Annotated[
        Path | None, typer.Option(exists=True, file_okay=False, help="DIR/<label>/*.jpg photos.")
    ] = None,
    detector: Annotated[
        str, typer.Option(help="Face detector for --folder: yunet or haar.")
    ] = "yunet",
    as_json: JsonFlag = False,
) -> None:
    """Accuracy, macro-F1, per-class metrics and confusion of the emotion model.

    ``--npz`` classifies the 48x48 crops of one split; ``--folder`` runs photos end to end
    (detection + crop + classification) and counts photos where no face was found.
    """
    from moodtune.vision import evaluation_runs

    _settings()
    with _errors_exit(as_json):
        if (npz is None) == (folder is None):
            raise InvalidInput("give exactly one of --npz or --folder")
        if npz is not None:
            doc = evaluation_runs.evaluate_npz(npz, split=split)
        else:
            assert folder is not None
            doc = _with_photo_progress(
                lambda progress: evaluation_runs.evaluate_folder(
                    folder, detector=detector, progress=progress
                )
            )
    _emit(doc, as_json=as_json, human=_print_report)


def _with_photo_progress(run: Callable[[Callable[[int, int], None]], Any]) -> Any:
    """Run an evaluation with a progress bar (photos, ETA) on stderr, gone when it ends."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = ("photos", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=stderr, transient=True) as bar:
        task = bar.add_task("photos", total=None)
        return run(lambda done, total: bar.update(task, completed=done, total=total))


def _print_report(doc: dict[str, Any]) -> None:
    console = Console()
    head = f"accuracy {doc['accuracy']:.2%} · macro-F1 {doc['macro_f1']:.3f} · n {doc['n']}"
    if "no_face" in doc:
        head += f" · detected {doc['detected']} · no face {doc['no_face']}"
        head += f" · uncertain {doc['uncertain']}"
    console.print(head)
    table = Table("class", "precision", "recall", "F1", "support")
    for name, m in doc["per_class"].items():
        table.add_row(
            name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"])
        )
    console.print(table)
    classes = list(doc["per_class"])
    confusion = Table("true \\ predicted", *(c[:4] for c in classes), title="confusion")
    for name, row in zip(classes, doc["confusion"], strict=True):
        confusion.add_row(name, *(str(v) for v in row))
    console.print(confusion)
    for view in doc.get("views", {}).values():
        console.print(f"{'/'.join(view['classes'])}: {view['accuracy']:.2%} (n {view['n']})")
