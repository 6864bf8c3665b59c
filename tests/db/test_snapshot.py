"""Catalog snapshots: built once per catalog version, then mapped by every other process; a
partial, corrupt or newer-format snapshot is never served but rebuilt."""

import json
import logging
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.orm import Session, sessionmaker

from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import CatalogIndex, load_snapshot
from moodtune.catalog.snapshot import (
    FORMAT,
    MANIFEST,
    SnapshotError,
    SnapshotStore,
    read_whole,
)
from moodtune.recommend import RankQuery, plan_mood, rank


@pytest.fixture
def catalog(session_factory: sessionmaker[Session], small_catalog: Path) -> sessionmaker[Session]:
    import_catalog(small_catalog, session_factory=session_factory)
    return session_factory


def _playlist(matrix: object) -> list[int]:
    plan = plan_mood("sad", strategy="journey", n=10)
    query = RankQuery(targets=plan.targets, intents=plan.intents, n=10, journey=True,
                      points=plan.path, heard_weight=plan.heard_weight, seed=3)  # fmt: skip
    return [t.id for t in rank(matrix, query)]  # type: ignore[arg-type]


def _snapshots(store: SnapshotStore) -> list[str]:
    """Published snapshots (not build locks, leftovers or damaged ones set aside)."""
    return sorted(p.name for p in store.root.iterdir() if not p.name.startswith("."))


def test_the_first_process_builds_and_the_next_maps_the_same_snapshot(
    catalog: sessionmaker[Session], tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    built = CatalogIndex(catalog, store=store).load()
    mapped = CatalogIndex(catalog, store=store).load()
    assert (built.origin, mapped.origin) == ("built", "mapped")
    assert built.key == mapped.key and built.version == mapped.version
    features = mapped.matrix.features
    assert type(features) is np.ndarray and isinstance(features.base, np.memmap)  # mapped, plain
    assert np.array_equal(built.matrix.ids, mapped.matrix.ids)
    assert np.array_equal(built.matrix.features, mapped.matrix.features)
    assert built.matrix.genres.keys() == mapped.matrix.genres.keys()
    assert _playlist(built.matrix) == _playlist(mapped.matrix)
    assert _snapshots(store) == [built.key]


def test_a_new_catalog_version_gets_a_new_snapshot_and_the_old_one_goes(
    catalog: sessionmaker[Session], tmp_path: Path, small_catalog: Path
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    index = CatalogIndex(catalog, store=store)
    first = index.load()
    with catalog() as session:
        session.execute(
            __import__("sqlalchemy").text("UPDATE tracks SET updated_at = CURRENT_TIMESTAMP")
        )
        session.commit()
    second = index.load()
    third = index.load()
    assert second.key != first.key and second.origin == "built" and third.origin == "mapped"
    assert _snapshots(store) == [second.key]


@pytest.mark.parametrize("damage", ["flip", "truncate", "manifest", "format"])
def test_a_damaged_snapshot_is_never_served_but_rebuilt(
    catalog: sessionmaker[Session], tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    with catalog() as session:
        key = load_snapshot(session, store).key
    assert key is not None
    path = store.path(key)
    features = path / "features.npy"
    if damage == "flip":
        data = bytearray(features.read_bytes())
        data[-7] ^= 0x40
        features.write_bytes(bytes(data))
    elif damage == "truncate":
        features.write_bytes(features.read_bytes()[:-100])
    elif damage == "manifest":  # a write interrupted before its manifest
        (path / MANIFEST).unlink()
    else:
        manifest = json.loads((path / MANIFEST).read_text())
        (path / MANIFEST).write_text(json.dumps({**manifest, "format": FORMAT + 1}))
    with pytest.raises(SnapshotError):
        from moodtune.recommend.heard import HeardMoodModel

        store.read(key, heard_model=HeardMoodModel.from_path())
    with caplog.at_level(logging.WARNING), catalog() as session:
        rebuilt = load_snapshot(session, store)
    assert rebuilt.origin == "built" and rebuilt.key == key
    assert "rebuilding" in caplog.text
    if damage == "format":
        assert f"this moodtune reads format {FORMAT}" in caplog.text
    assert any(p.name.startswith(".bad-") for p in store.root.iterdir())
    with catalog() as session:
        assert load_snapshot(session, store).origin == "mapped"


def test_processes_that_see_a_new_version_together_build_it_once(
    catalog: sessionmaker[Session], tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    with ThreadPoolExecutor(3) as pool:
        loaded = list(pool.map(lambda _: CatalogIndex(catalog, store=store).load(), range(3)))
    assert sorted(s.origin for s in loaded) == ["built", "mapped", "mapped"]
    assert len({s.key for s in loaded}) == 1 and _snapshots(store) == [loaded[0].key]


def _locked_kb() -> int:
    """This process's locked memory (VmLck), in kB."""
    status = Path("/proc/self/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmLck")).split()[1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's VmLck")
def test_a_server_keeps_what_requests_read_in_memory_and_the_cli_does_not(
    catalog: sessionmaker[Session], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    with catalog() as session:
        cli = load_snapshot(session, store)  # built, then mapped: nothing locked
    before = _locked_kb()
    with caplog.at_level(logging.INFO):
        server = CatalogIndex(catalog, store=store, keep_in_memory=True).load()
    locked = (_locked_kb() - before) * 1024
    assert cli.origin == "built" and server.origin == "mapped"
    matrix = server.matrix
    per_row = matrix.features.nbytes + matrix.heard.probs.nbytes + matrix.popularity.nbytes
    snapshot_bytes = sum(f.stat().st_size for f in store.path(server.key or "").iterdir())
    assert per_row <= locked < snapshot_bytes  # the per-row columns, not ids, values, songs…
    assert f"snapshot {server.key}: " in caplog.text and "kept in memory" in caplog.text


def _read_advice(path: Path) -> set[str]:
    """The read-ahead flags of this process's mappings of ``path``: ``rr`` (random) or ``sr``
    (sequential), from /proc/self/smaps."""
    flags: set[str] = set()
    mapped = False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if line.startswith("VmFlags:") and mapped:
            flags |= set(line.split()[1:]) & {"rr", "sr"}
        elif not line[0].isupper():  # a mapping's header: address range ... path
            mapped = line.endswith(str(path))
    return flags


@pytest.mark.skipif(not Path("/proc/self/smaps").exists(), reason="reads Linux's smaps")
def test_columns_read_at_the_shown_rows_are_mapped_without_read_ahead(
    catalog: sessionmaker[Session], tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    with catalog() as session:
        snapshot = load_snapshot(session, store)  # built, written, then mapped
        in_memory = load_snapshot(session).matrix.ids
    with read_whole(in_memory) as ids:
        assert ids is in_memory
    files = store.path(snapshot.key or "")
    assert _read_advice(files / "ids.npy") == {"rr"}
    assert _read_advice(files / "values.npy") == {"rr"}
    assert _read_advice(files / "features.npy") == set()  # every request scans it: locked
    with read_whole(snapshot.matrix.ids):
        assert _read_advice(files / "ids.npy") == {"sr"}
    assert _read_advice(files / "ids.npy") == {"rr"}
    space = snapshot.taste_space  # reads every id, then scattered again
    assert len(space) == len(snapshot.matrix) and _read_advice(files / "ids.npy") == {"rr"}


_REFUSED = r"""
import logging, os, resource, sys
from pathlib import Path
from moodtune.catalog.index import _keep_in_memory
from moodtune.catalog.snapshot import SnapshotStore
from moodtune.recommend.heard import HeardMoodModel
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
files = SnapshotStore(Path(sys.argv[1])).read(sys.argv[2], heard_model=HeardMoodModel.from_path())
if os.getuid() == 0:  # root may lock whatever it likes: become nobody, as a container user
    os.setgid(65534)
    os.setuid(65534)
resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, 0))
kept = files.keep_in_memory()
print(kept.locked_bytes, kept.asked_bytes > 0, kept.refused)
_keep_in_memory(files, sys.argv[2])
"""


def test_a_refused_lock_is_a_warning_that_says_how_to_allow_it(
    catalog: sessionmaker[Session], tmp_path: Path
) -> None:
    store = SnapshotStore(tmp_path / "snapshots")
    with catalog() as session:
        key = load_snapshot(session, store).key
    assert key is not None
    out = subprocess.run([sys.executable, "-c", _REFUSED, str(store.root), key],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    first, warning = out.splitlines()[:2]
    assert first.startswith("0 True ") and first != "0 True None"  # refused, with the OS's reason
    assert f"snapshot {key}: 0 of " in warning and "ulimit -l" in warning
    assert "MOODTUNE_SNAPSHOT_LOCK=false" in warning
