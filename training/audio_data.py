"""Labelled music from ../shared/data as log-mel spectrograms, with track/artist-disjoint splits.

Shared by ``train_audio.py`` and ``bench/audio_quality.py`` so that both see the same clips,
the same splits and the same spectrograms as the runtime (``moodtune.audio.mel.log_mel``).

Sources (see ../shared/data/README.md):
- ``music_emotion``: 764 clips of 15 s from the 4Q dataset, Russell quadrant per clip and the
  artist's AllMusic genres. Split by **artist**.
- ``music_clips``: 158 clips of game soundtracks (style per package, weak) and GTZAN classical.
  Split by **track** (clips of one track stay together). Two whole sources, ``fof_sectoid``
  (rock_metal) and ``etr`` (game), are never trained on: style accuracy there shows whether the
  model learned the style or the package.
- ``music_genres``: 24 GTZAN clips in 9 genres, one track each.
"""

import csv
import hashlib
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from moodtune.audio.decode import load
from moodtune.audio.mel import log_mel

QUADRANTS = ("Q1", "Q2", "Q3", "Q4")
#: Coarse styles the model predicts (multi-label). AllMusic genres, GTZAN genres and the
#: game-music package styles map onto them below; anything unmapped is simply not a label.
STYLES = (
    "blues",
    "classical",
    "country",
    "electronic",
    "folk",
    "jazz",
    "latin",
    "metal",
    "new_age",
    "pop_rock",
    "rap_hiphop",
    "reggae",
    "rnb",
    "soundtrack",
    "game",
)
ALLMUSIC_TO_STYLES = {
    "Blues": ("blues",),
    "Classical": ("classical",),
    "Country": ("country",),
    "Electronic": ("electronic",),
    "Folk": ("folk",),
    "Jazz": ("jazz",),
    "Latin": ("latin",),
    "New Age": ("new_age",),
    "Pop/Rock": ("pop_rock",),
    "Rap": ("rap_hiphop",),
    "Reggae": ("reggae",),
    "R&B": ("rnb",),
    "Stage & Screen": ("soundtrack",),
}
GTZAN_TO_STYLES = {
    "blues": ("blues",),
    "classical": ("classical",),
    "country": ("country",),
    "disco": ("pop_rock",),
    "hiphop": ("rap_hiphop",),
    "jazz": ("jazz",),
    "metal": ("metal", "pop_rock"),
    "pop": ("pop_rock",),
    "reggae": ("reggae",),
    "rock": ("pop_rock",),
}
PACKAGE_STYLE_TO_STYLES = {
    "classical": ("classical",),
    "orchestral": ("soundtrack", "classical"),
    "rock_metal": ("metal", "pop_rock"),
    "electronic_soundtrack": ("electronic", "soundtrack"),
    "game": ("game",),
}
HELD_OUT_SOURCES = ("fof_sectoid", "etr")
SPLIT_SHARES = (0.7, 0.15, 0.15)  # train, val, test


@dataclass
class Clip:
    key: str  # "<dataset>/<file>"
    dataset: str
    group: str  # artist (4Q) or track: the unit kept on one side of the split
    source: str
    quadrant: int  # index into QUADRANTS, -1 when unlabelled
    styles: tuple[str, ...]
    split: str = ""
    mel: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_clips(data_dir: Path) -> list[Clip]:
    """Every labelled clip of the three datasets, without audio."""
    clips: list[Clip] = []
    for row in _read_csv(data_dir / "music_emotion.csv"):
        genres = [g.strip() for g in row["genres"].split(";") if g.strip()]
        styles = sorted({s for g in genres for s in ALLMUSIC_TO_STYLES.get(g, ())})
        clips.append(
            Clip(
                key=f"music_emotion/{row['file']}",
                dataset="music_emotion",
                group=f"artist:{row['artist'].strip().casefold()}",
                source="4q",
                quadrant=QUADRANTS.index(row["quadrant"]),
                styles=tuple(styles),
            )
        )
    for row in _read_csv(data_dir / "music_clips.csv"):
        styles = (
            GTZAN_TO_STYLES[row["genre"]]
            if row["source"] == "gtzan"
            else PACKAGE_STYLE_TO_STYLES[row["style"]]
        )
        clips.append(
            Clip(
                key=f"music_clips/{row['file']}",
                dataset="music_clips",
                group=f"track:{row['source']}:{row['track_title'] or row['clip_id']}",
                source=row["source"],
                quadrant=-1,
                styles=styles,
            )
        )
    for row in _read_csv(data_dir / "music_genres.csv"):
        clips.append(
            Clip(
                key=f"music_genres/{row['file']}",
                dataset="music_genres",
                group=f"track:gtzan:{row['clip_id']}",
                source="gtzan",
                quadrant=-1,
                styles=GTZAN_TO_STYLES[row["genre"]],
            )
        )
    return clips


def _share(group: str, seed: int) -> float:
    """A stable pseudo-random number in [0, 1) per group, independent of the order of clips."""
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(clips: list[Clip], seed: int) -> None:
    """train/val/test by group (artist or track); held-out sources are always ``heldout``."""
    cut_train, cut_val = SPLIT_SHARES[0], SPLIT_SHARES[0] + SPLIT_SHARES[1]
    for clip in clips:
        if clip.source in HELD_OUT_SOURCES:
            clip.split = "heldout"
            continue
        share = _share(clip.group, seed)
        clip.split = "train" if share < cut_train else "val" if share < cut_val else "test"


def extract(data_dir: Path, into: Path) -> None:
    """Unpack the three tars once (they hold mono 22.05 kHz Ogg Vorbis)."""
    for name in ("music_emotion", "music_clips", "music_genres"):
        if (into / name).is_dir():
            continue
        with tarfile.open(data_dir / f"{name}.tar") as tar:
            for member in tar.getmembers():  # no ``filter=`` on Python 3.11.2: check by hand
                if member.isfile() and ".." not in Path(member.name).parts:
                    target = into / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    source = tar.extractfile(member)
                    assert source is not None
                    target.write_bytes(source.read())


def load_mels(clips: list[Clip], audio_dir: Path, cache: Path) -> None:
    """Fill ``clip.mel`` (128 x frames, float16 in the cache) from the cache or by decoding."""
    stored: dict[str, np.ndarray] = dict(np.load(cache)) if cache.exists() else {}
    missing = [clip for clip in clips if clip.key not in stored]
    for clip in missing:
        stored[clip.key] = log_mel(load(audio_dir / clip.key)).astype(np.float16)
    if missing:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **stored)
    for clip in clips:
        clip.mel = stored[clip.key].astype(np.float32)


def unpacked(data_dir: Path, work_dir: Path, seed: int) -> list[Clip]:
    """Labelled clips with their splits, audio unpacked under ``work_dir/audio``."""
    if not (data_dir / "music_emotion.tar").exists():
        raise SystemExit(f"no labelled music in {data_dir}: see ../shared/data/README.md")
    clips = read_clips(data_dir)
    assign_splits(clips, seed)
    extract(data_dir, work_dir / "audio")
    return clips


def dataset(data_dir: Path, work_dir: Path, seed: int) -> list[Clip]:
    """Labelled clips with splits and spectrograms, decoding only what the cache lacks."""
    clips = unpacked(data_dir, work_dir, seed)
    load_mels(clips, work_dir / "audio", work_dir / "mels.npz")
    return clips


def style_matrix(clips: list[Clip]) -> np.ndarray:
    """(n, len(STYLES)) 0/1 multi-label targets."""
    target = np.zeros((len(clips), len(STYLES)), np.float32)
    for row, clip in enumerate(clips):
        for style in clip.styles:
            target[row, STYLES.index(style)] = 1.0
    return target


def shuffled(items: list[Clip], seed: int) -> list[Clip]:
    out = list(items)
    random.Random(seed).shuffle(out)
    return out
