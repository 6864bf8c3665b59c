"""Rebuild demo/music from ../shared/data/music_full_tracks.tar: copy the 14 freely licensed
tracks and fill in the tags the original files lack (title, artist, album, genre, licence), so
the demo library shows real names. The audio is not touched.

    .venv/bin/python demo/build.py [--tar ../shared/data/music_full_tracks.tar]
"""

import argparse
import csv
import io
import tarfile
from pathlib import Path

import mutagen

HERE = Path(__file__).resolve().parent
#: source -> (artist, album, genre) for files without tags, from each package's debian/copyright.
SOURCES = {
    "etr": ("Extreme Tux Racer contributors", "Extreme Tux Racer", "game"),
    "fof_muldjord": ("Muldjord", "Frets on Fire: Muldjord songs", "metal"),
    "fof_sectoid": ("Carlos Viola Iborra (Sectoid)", "Frets on Fire: Sectoid songs", "rock"),
    "hedgewars": ("Hedgewars project", "Hedgewars", "game"),
    "supertux": ("SuperTux team", "SuperTux Soundtrack", "game"),
    "warzone2100": ("Warzone 2100 project", "Warzone 2100", "electronic"),
    "wesnoth": ("Wesnoth project", "The Battle for Wesnoth OST", "orchestral"),
}


def _title(track_title: str) -> str:
    name = track_title.rsplit("/", 1)[-1].replace("_", " ").replace("-", " ")
    return name[:1].upper() + name[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--tar", type=Path, default=HERE.parents[1] / "shared/data/music_full_tracks.tar"
    )
    args = parser.parse_args()
    out = HERE / "music"
    out.mkdir(exist_ok=True)
    with tarfile.open(args.tar) as tar:
        rows = list(
            csv.DictReader(io.TextIOWrapper(tar.extractfile("music_full_tracks/tracks.csv")))
        )
        for row in rows:
            member = tar.extractfile(f"music_full_tracks/{row['file']}")
            assert member is not None
            target = out / row["file"]
            target.write_bytes(member.read())
            audio = mutagen.File(target)
            artist, album, genre = SOURCES[row["source"]]
            defaults = {"title": _title(row["track_title"]), "artist": artist, "album": album}
            for key, value in defaults.items():
                if not audio.tags.get(key):
                    audio.tags[key] = value
            if not audio.tags.get("genre"):
                audio.tags["genre"] = genre
            audio.tags["license"] = row["license"]
            audio.save()
    with (out / "tracks.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} tracks in {out}")


if __name__ == "__main__":
    main()
