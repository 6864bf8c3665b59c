"""Immutable, memory-mapped snapshots of everything ranking reads, one per catalog version.

A snapshot is a directory ``<data_dir>/snapshots/<key>/`` of ``.npy`` files (the ranking
matrix in cell order, its cell bounds, genres as CSR, audio embeddings) and a
``manifest.json`` (format, catalog version, shape, dtype, size and sha256 of every file)
written last. ``.npy`` rather than Arrow IPC: ``np.load(mmap_mode="r")`` maps each array
without a copy or a new dependency, and every process that maps the same file shares its
pages through the OS cache.

The key hashes the snapshot format, the catalog version (track count, newest ``updated_at``)
and the heard-mood model's checksum, so every process that sees the same catalog looks for the
same directory; whichever finds none first builds it from SQL once (the others wait on its
build lock, then map it), in a temporary directory renamed into place (a rename is atomic: a
reader sees a whole snapshot or none). A snapshot whose
manifest is missing, from a newer format, or whose files do not match their checksums is
never served: it is moved aside and rebuilt.

With object storage (``MOODTUNE_STORAGE_URL=s3://…``) the builder also uploads each snapshot
under ``snapshots/<key>/`` (manifest last), and a process on another machine that finds no local
copy downloads it into its own snapshot directory, checks it as above, and maps it: a new
replica never rebuilds from SQL what another one already built.
"""

import ctypes
import fcntl
import functools
import hashlib
import json
import logging
import mmap
import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from moodtune.errors import NotFound
from moodtune.recommend import TrackMatrix
from moodtune.recommend.cells import CellIndex, GenreCells
from moodtune.recommend.heard import DEFAULT_HEARD_MODEL, HeardMood, HeardMoodModel
from moodtune.recommend.similar import EmbeddingTable
from moodtune.storage import LocalStorage, Storage, open_storage

__all__ = [
    "FORMAT",
    "Kept",
    "SnapshotError",
    "SnapshotFiles",
    "SnapshotStore",
    "snapshot_key",
]

log = logging.getLogger(__name__)

#: Bumped whenever the files or their meaning change; older code refuses newer snapshots.
FORMAT = 7  # 2: cells of their own for large genres; 3: feature cells; 4: playable cells;
# 5: own cells from 8,192 tracks instead of 50,000, and four times smaller; 6: feature and
# probability boxes float64, a row per column, and feature cells of 256 tracks; 7: a genre's and
# the playable tracks' cells of 64 tracks (searched in groups of four)
MANIFEST = "manifest.json"
REMOTE_PREFIX = "snapshots"
#: Snapshots kept in object storage: the newest few, so a replica that has not yet seen the
#: newest version can still fetch the one it is on.
REMOTE_KEEP = 3
_CHUNK = 1 << 22

_MATRIX_ARRAYS = ("ids", "values", "features", "popularity", "explicit", "artist_ptr",
                  "artist_codes", "song_codes", "heard_from_audio", "non_music")  # fmt: skip
_CELL_ARRAYS = ("starts", "feature_lo", "feature_hi", "probs_lo", "probs_hi", "popularity_lo",
                "popularity_hi", "popularity_unknown")  # fmt: skip
#: Matrix fields holding cells of their own over a row list, stored under their own name.
_OWN_CELLS = ("feature_cells", "playable_cells")
#: Files a request reads for every row it scores or filters, and the cells' (what
#: :meth:`SnapshotFiles.keep_in_memory` locks); the others are read for the few rows a playlist
#: shows (ids, raw values, artists, songs, heard points) or by other endpoints (embeddings).
_PER_ROW_FILES = ("features", "heard_probs", "popularity", "explicit", "non_music",
                  "heard_from_audio", "playable", "genre_rows")  # fmt: skip
_CELL_PREFIXES = ("cells_", "genre_cells_", *(f"{prefix}_" for prefix in _OWN_CELLS))
#: Files read only at the rows a playlist shows, a row here and there: mapped with
#: ``MADV_RANDOM``, so that a page the OS reclaimed comes back alone. Why: with the default
#: read-ahead each such page fault read 1-4 MB around it, 2-3 ms on this machine's disk, and a
#: preset-table request after 100 s idle waited on up to five of them (p99 16.0 ms at 10M;
#: 5.4 ms with the advice, the same requests in a fresh process each).
_SHOWN_ROW_FILES = ("ids", "values", "artist_ptr", "artist_codes", "song_codes", "heard_point",
                    "heard_spread")  # fmt: skip


class SnapshotError(Exception):
    """A snapshot that must not be served (partial, corrupt, or from a newer format)."""


def snapshot_key(version: tuple[int, datetime | None], heard_sha256: str) -> str:
    """The directory name of the snapshot of one catalog version under this code's format."""
    count, newest = version
    text = json.dumps([FORMAT, count, newest.isoformat() if newest else None, heard_sha256])
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def heard_model_sha256() -> str:
    return str(json.loads(DEFAULT_HEARD_MODEL.read_text())["sha256"])


class Kept(NamedTuple):
    """What :meth:`SnapshotFiles.keep_in_memory` locked, of how much, and why it stopped short."""

    locked_bytes: int
    asked_bytes: int
    refused: str | None = None


@dataclass(frozen=True, eq=False)
class SnapshotFiles:
    """What a snapshot holds, mapped from its files (read-only arrays)."""

    matrix: TrackMatrix
    embeddings: EmbeddingTable
    per_row: tuple[np.ndarray, ...] = ()  # the mapped files of ``_PER_ROW_FILES`` and the cells

    def keep_in_memory(self) -> Kept:
        """Lock the pages every request reads in RAM (``mlock``), best effort.

        Why: the OS may reclaim mapped pages nobody touched for a while even with memory free
        (proactive reclaim, a container's ``memory.high``, an import streaming audio through
        the page cache), and the next request that needs them waits on disk (at 10M tracks,
        8-12 % of these pages left the page cache in 150 s idle; see docs/scaling.md).
        Stops at the first array the OS refuses (the locked-memory limit, ``ulimit -l``); the
        locks go with the mapping when the snapshot is dropped.
        """
        asked = sum(a.nbytes for a in self.per_row)
        locked = 0
        for array in self.per_row:
            refused = _mlock(array)
            if refused is not None:
                return Kept(locked, asked, refused)
            locked += array.nbytes
        return Kept(locked, asked)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)  # POSIX only, like the fcntl build lock


def _mlock(array: np.ndarray) -> str | None:
    """``mlock(2)`` the pages under ``array`` (the standard library has none); the OS's reason
    when it refuses."""
    if not array.nbytes:
        return None
    start = array.__array_interface__["data"][0]
    offset = start % mmap.PAGESIZE
    if _libc().mlock(ctypes.c_void_p(start - offset), ctypes.c_size_t(array.nbytes + offset)):
        return os.strerror(ctypes.get_errno())
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _mapped(path: Path, *, random: bool = False) -> np.ndarray:
    """Map one ``.npy`` file read-only, as a plain ndarray: indexing a ``np.memmap`` runs
    Python code on every gather (about 10 % of a journey-with-taste request at 10M tracks).
    ``random``: read at scattered rows (see ``_SHOWN_ROW_FILES``)."""
    mapped: np.memmap = np.load(path, mmap_mode="r", allow_pickle=False)
    if random and isinstance(mapped.base, mmap.mmap):  # np.load maps even an empty array
        mapped.base.madvise(mmap.MADV_RANDOM)
    return mapped.view(np.ndarray)


@contextmanager
def read_whole(array: np.ndarray) -> Iterator[np.ndarray]:
    """Read a mapped array of ``_SHOWN_ROW_FILES`` in full with the OS reading ahead, as a
    scan wants (a page at a time, 80 MB of track ids at 10M would take seconds from disk);
    scattered reads again afterwards. Arrays not mapped by a snapshot pass through."""
    mapping = array.base.base if isinstance(array.base, np.memmap) else None
    if not isinstance(mapping, mmap.mmap):
        yield array
        return
    mapping.madvise(mmap.MADV_SEQUENTIAL)
    try:
        yield array
    finally:
        mapping.madvise(mmap.MADV_RANDOM)


def _arrays_of(matrix: TrackMatrix, embeddings: EmbeddingTable) -> dict[str, np.ndarray]:
    """Every array of the snapshot by file name."""
    arrays = {name: np.asarray(getattr(matrix, name)) for name in _MATRIX_ARRAYS}
    arrays |= {"heard_probs": matrix.heard.probs, "heard_point": matrix.heard.point,
               "heard_spread": matrix.heard.spread}  # fmt: skip
    if matrix.playable is not None:
        arrays["playable"] = matrix.playable
    genre_rows = [np.asarray(matrix.genres[g], np.int64) for g in sorted(matrix.genres)]
    arrays["genre_rows"], arrays["genre_ptr"] = _packed(genre_rows)
    if matrix.cells is not None:
        arrays |= {f"cells_{n}": getattr(matrix.cells, n) for n in _CELL_ARRAYS}
    arrays |= _genre_cell_arrays(matrix)
    for prefix in _OWN_CELLS:
        own = getattr(matrix, prefix)
        if own is not None:
            arrays[f"{prefix}_rows"] = own.rows
            arrays |= {f"{prefix}_{n}": getattr(own.cells, n) for n in _CELL_ARRAYS}
    arrays |= {"embedding_ids": embeddings.ids, "embedding_vectors": embeddings.vectors,
               "embedding_hidden": (embeddings.hidden if embeddings.hidden is not None
                                    else np.zeros(len(embeddings.ids), bool))}  # fmt: skip
    return arrays


def _genre_cell_arrays(matrix: TrackMatrix) -> dict[str, np.ndarray]:
    """The large genres' cells (in ``sorted(matrix.genre_cells)`` order), concatenated: their
    rows with offsets per genre, each cell array along its last (cell) axis with offsets per
    genre (``starts`` has one more entry per genre than the boxes)."""
    names = sorted(matrix.genre_cells)
    if not names:
        return {}
    parts = [matrix.genre_cells[g] for g in names]
    rows, rows_ptr = _packed([p.rows for p in parts])
    cells_ptr = np.cumsum([0] + [len(p.cells) for p in parts]).astype(np.int64)
    arrays = {"genre_cells_rows": rows, "genre_cells_rows_ptr": rows_ptr,
              "genre_cells_ptr": cells_ptr}  # fmt: skip
    for n in _CELL_ARRAYS:
        arrays[f"genre_cells_{n}"] = np.concatenate([getattr(p.cells, n) for p in parts], axis=-1)
    return arrays


def _packed(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The arrays end to end, and the offsets where each begins (one more than the parts)."""
    ptr = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64)), ptr


def _genre_cells_of(arrays: dict[str, np.ndarray], names: list[str]) -> dict[str, GenreCells]:
    if not names:
        return {}
    out = {}
    rows_ptr, ptr = arrays["genre_cells_rows_ptr"], arrays["genre_cells_ptr"]
    for i, name in enumerate(names):
        a, b = int(ptr[i]), int(ptr[i + 1])
        boxes = {n: arrays[f"genre_cells_{n}"][..., a:b] for n in _CELL_ARRAYS if n != "starts"}
        starts = arrays["genre_cells_starts"][a + i : b + i + 1]  # C + 1 entries per genre
        out[name] = GenreCells.of(
            arrays["genre_cells_rows"][rows_ptr[i] : rows_ptr[i + 1]],
            CellIndex(starts=starts, **boxes),
        )
    return out


class SnapshotStore:
    """Snapshots in one directory: write once, map many times, never change; optionally
    shared with other machines through object storage (``remote``)."""

    def __init__(self, root: Path, remote: Storage | None = None) -> None:
        self.root = root
        self.remote = remote

    @classmethod
    def open(cls, snapshots: Path, storage_url: str) -> "SnapshotStore":
        """The store a process uses: its snapshot directory, shared through the object storage
        when that is remote (a local object directory is on this machine already)."""
        storage = open_storage(storage_url)
        return cls(snapshots, None if isinstance(storage, LocalStorage) else storage)

    def path(self, key: str) -> Path:
        return self.root / key

    def _temporary(self, key: str) -> Path:
        """A new directory to fill before it is renamed to :meth:`path` (``.tmp-*`` leftovers of
        a killed process are removed by :meth:`prune`)."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".tmp-{key}-{os.getpid()}-{time.monotonic_ns()}"
        temporary.mkdir()
        return temporary

    @contextmanager
    def building(self, key: str) -> Iterator[None]:
        """Hold the build lock of ``key``: replicas that see a new catalog version together
        build it once; the others wait here, then map what the first wrote. An OS file lock
        (``flock``), so a builder that dies releases it."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / f".lock-{key}").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write(
        self,
        key: str,
        version: tuple[int, datetime | None],
        matrix: TrackMatrix,
        embeddings: EmbeddingTable,
    ) -> Path:
        """Write the snapshot under ``key`` unless another process already did."""
        target = self.path(key)
        if (target / MANIFEST).exists():
            return target
        temporary = self._temporary(key)
        try:
            files = {}
            for name, array in _arrays_of(matrix, embeddings).items():
                path = temporary / f"{name}.npy"
                np.save(path, np.asarray(array), allow_pickle=False)
                files[name] = {"bytes": path.stat().st_size, "sha256": _sha256(path)}
            count, newest = version
            manifest = {
                "format": FORMAT,
                "key": key,
                "catalog_version": [count, newest.isoformat() if newest else None],
                "tracks": len(matrix),
                "written_at": time.time(),
                "genres": sorted(matrix.genres),
                "genre_cells": sorted(matrix.genre_cells),
                "files": files,
            }
            (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1))
            try:
                temporary.rename(target)
            except OSError:  # another process published the same key first: keep theirs
                shutil.rmtree(temporary, ignore_errors=True)
                return target
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        if self.remote is not None:
            try:
                self._upload(key)
            except Exception as exc:  # this machine still has it; others will build their own
                log.warning("could not upload snapshot %s to object storage: %s", key, exc)
        return target

    def _remote_key(self, key: str, name: str) -> str:
        return f"{REMOTE_PREFIX}/{key}/{name}"

    def _upload(self, key: str) -> None:
        """Upload the files, then the manifest (a reader looks for the manifest first), then
        drop all but the newest :data:`REMOTE_KEEP` snapshots. Uploads still in progress
        (no manifest yet) are left alone."""
        remote, path = self._remote(), self.path(key)
        files = sorted(path.glob("*.npy"))
        with ThreadPoolExecutor(max_workers=8) as pool:  # boto3 clients are thread-safe
            list(pool.map(remote.put, [self._remote_key(key, f.name) for f in files], files))
        remote.put(self._remote_key(key, MANIFEST), path / MANIFEST)
        self._prune_remote()

    def _remote(self) -> Storage:
        if self.remote is None:
            raise RuntimeError("this snapshot store has no object storage")
        return self.remote

    def _prune_remote(self) -> None:
        remote = self._remote()
        names, written = list(remote.keys(REMOTE_PREFIX + "/")), {}
        for name in names:
            parts = name.split("/")
            if len(parts) == 3 and parts[2] == MANIFEST:
                with suppress(NotFound, ValueError):
                    manifest = json.loads(remote.read(name))
                    written[parts[1]] = float(manifest.get("written_at", 0.0))
        stale = sorted(written, key=written.__getitem__, reverse=True)[REMOTE_KEEP:]
        for name in names:
            if name.split("/")[1] in stale and not name.endswith(MANIFEST):
                remote.delete(name)
        for key in stale:  # the manifest last: a reader never finds one without its files
            remote.delete(self._remote_key(key, MANIFEST))

    def fetch(self, key: str) -> bool:
        """Download the snapshot ``key`` from object storage into this store; False when there
        is no remote or it has no such snapshot. What comes down is checked by :meth:`read`."""
        if self.remote is None or self.path(key).exists():
            return False
        remote = self.remote
        try:
            manifest = json.loads(remote.read(self._remote_key(key, MANIFEST)))
        except NotFound:
            return False
        except ValueError as exc:
            raise SnapshotError(f"snapshot {key} in object storage: bad manifest ({exc})") from exc
        temporary = self._temporary(key)
        names = [f"{name}.npy" for name in manifest.get("files", {})]
        try:
            with ThreadPoolExecutor(max_workers=8) as pool:
                keys = [self._remote_key(key, n) for n in names]
                list(pool.map(remote.download, keys, [temporary / n for n in names]))
            (temporary / MANIFEST).write_text(json.dumps(manifest, indent=1))
            try:
                temporary.rename(self.path(key))
            except OSError:  # fetched by another process meanwhile
                shutil.rmtree(temporary, ignore_errors=True)
        except NotFound as exc:
            shutil.rmtree(temporary, ignore_errors=True)
            raise SnapshotError(f"snapshot {key} in object storage is incomplete: {exc}") from exc
        except BaseException:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        return True

    def read(self, key: str, *, heard_model: HeardMoodModel) -> SnapshotFiles | None:
        """Map the snapshot ``key``; None when there is none. Raises :class:`SnapshotError`
        when it exists but must not be served."""
        path = self.path(key)
        if not path.exists():
            return None
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError) as exc:
            raise SnapshotError(f"snapshot {key}: no readable manifest ({exc})") from exc
        if manifest.get("format") != FORMAT:
            raise SnapshotError(
                f"snapshot {key} has format {manifest.get('format')}, this moodtune reads "
                f"format {FORMAT}"
            )
        files = {name: path / f"{name}.npy" for name in manifest["files"]}
        for name, file in files.items():
            if not file.exists() or file.stat().st_size != manifest["files"][name]["bytes"]:
                raise SnapshotError(f"snapshot {key}: {file.name} is missing or truncated")
        # hashlib releases the GIL on large buffers: the files are checked on every core
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            digests = dict(zip(files, pool.map(_sha256, files.values()), strict=True))
        for name, file in files.items():
            if digests[name] != manifest["files"][name]["sha256"]:
                raise SnapshotError(f"snapshot {key}: {file.name} does not match its checksum")
        arrays = {n: _mapped(f, random=n in _SHOWN_ROW_FILES) for n, f in files.items()}
        per_row = tuple(
            a for n, a in arrays.items() if n in _PER_ROW_FILES or n.startswith(_CELL_PREFIXES)
        )
        return SnapshotFiles(
            _matrix_of(arrays, manifest, heard_model), _embeddings_of(arrays), per_row
        )

    def discard(self, key: str) -> None:
        """Move a bad snapshot out of the way (kept as ``.bad-*`` for a post-mortem)."""
        path = self.path(key)
        if path.exists():
            path.rename(self.root / f".bad-{key}-{time.time_ns()}")

    def prune(self, keep: set[str], *, leftovers_after_s: float = 3600.0) -> None:
        """Remove snapshots other than ``keep``, and leftovers of interrupted writes once they
        are old enough not to be another process's write in progress. A process that still
        maps a removed file keeps its pages until it lets go."""
        if not self.root.exists():
            return
        for path in self.root.iterdir():
            if path.name in keep:
                continue
            if path.name.startswith(".") and time.time() - path.stat().st_mtime < leftovers_after_s:
                continue
            shutil.rmtree(path, ignore_errors=True)


def _matrix_of(
    arrays: dict[str, np.ndarray], manifest: dict[str, Any], heard_model: HeardMoodModel
) -> TrackMatrix:
    ptr = arrays["genre_ptr"]
    genres = {
        g: arrays["genre_rows"][ptr[i] : ptr[i + 1]] for i, g in enumerate(manifest["genres"])
    }
    cells = None
    if "cells_starts" in arrays:
        cells = CellIndex(**{n: arrays[f"cells_{n}"] for n in _CELL_ARRAYS})
    return TrackMatrix(
        **{name: arrays[name] for name in _MATRIX_ARRAYS},
        heard=HeardMood(arrays["heard_probs"], arrays["heard_point"], arrays["heard_spread"]),
        heard_model=heard_model,
        genres=genres,
        playable=arrays.get("playable"),
        cells=cells,
        genre_cells=_genre_cells_of(arrays, manifest["genre_cells"]),
        feature_cells=_own_cells_of(arrays, "feature_cells"),
        playable_cells=_own_cells_of(arrays, "playable_cells"),
    )


def _own_cells_of(arrays: dict[str, np.ndarray], prefix: str) -> GenreCells | None:
    """Cells of their own over a row list (see ``_OWN_CELLS``), None when not stored."""
    if f"{prefix}_rows" not in arrays:
        return None
    boxes = CellIndex(**{n: arrays[f"{prefix}_{n}"] for n in _CELL_ARRAYS})
    return GenreCells.of(arrays[f"{prefix}_rows"], boxes)


def _embeddings_of(arrays: dict[str, np.ndarray]) -> EmbeddingTable:
    hidden = arrays["embedding_hidden"]
    return EmbeddingTable(
        np.asarray(arrays["embedding_ids"]),
        arrays["embedding_vectors"],
        hidden=np.asarray(hidden) if hidden.any() else None,
    )
