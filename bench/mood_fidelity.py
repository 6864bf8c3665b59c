"""Do mood playlists fit the mood as listeners hear it? Precision@20 against human mood labels.

    .venv/bin/python bench/mood_fidelity.py [--data ../shared/data] [--seeds 5]

Catalog: only the ``validation`` tracks of ../shared/data/music_mood_tags_dev.csv (590
tracks whose mood listeners tagged on Last.fm; the heard-mood model never trained on them),
imported from the bundled catalog through the product's importer into a fresh SQLite file.
For each case a 20-track playlist is made through the product path
(``service.recommend_playlist``, personalization low, any popularity) and scored by the share
of its tracks whose listeners' quadrant is the expected one:

- happy, angry, fear, sad / match -> Q1, Q2, Q2, Q3: the emotion's own quadrant;
- sad / calm, angry / calm -> Q4: calm is positive and low-arousal, from anywhere;
- neutral / uplift -> Q1: uplift aims at positive valence with moderate arousal
  (recommend/tables/circumplex.toml).

Methods, in the same run: ``moodtune`` (the default ``heard`` preset), ``naive`` (nearest
Spotify valence/energy, preset ``valence_energy``), ``old_mapping`` (the hand-set ``russell``
preset, moodtune's default before), ``seed002`` (table 3.1) and ``random`` (the base rate: the
expected share of a uniformly random playlist, i.e. the quadrant's share of the catalog).
Every number is the mean over ``--seeds`` playlist seeds. Targets (issue 10): macro precision
>= 1.3 x naive, every case >= 1.5 x its random base rate. Prints one JSON object and writes
bench/results/mood_fidelity.json.
"""

import argparse
import csv
import gzip
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from moodtune.catalog import repo
from moodtune.catalog.db import create_db_engine, make_session_factory, migrate
from moodtune.catalog.importers import import_catalog
from moodtune.catalog.index import load_matrix
from moodtune.service import PlaylistParams, recommend_playlist

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "src" / "moodtune" / "data" / "spotify_tracks.csv.gz"
RESULTS = REPO / "bench" / "results" / "mood_fidelity.json"
CASES = (
    ("happy", "match", "Q1"),
    ("angry", "match", "Q2"),
    ("fear", "match", "Q2"),
    ("sad", "match", "Q3"),
    ("sad", "calm", "Q4"),
    ("angry", "calm", "Q4"),
    ("neutral", "uplift", "Q1"),
)
METHODS = {"moodtune": "heard", "naive": "valence_energy", "old_mapping": "russell",
           "seed002": "seed002"}  # fmt: skip
N = 20
TARGET_VS_NAIVE, TARGET_VS_RANDOM = 1.3, 1.5


def validation_catalog(labels: Path, into: Path) -> dict[str, str]:
    """Write the catalog rows of the validation tracks to ``into``; spotify id -> quadrant."""
    with labels.open(newline="", encoding="utf-8") as handle:
        wanted = {
            r["spotify_id"]: r["quadrant"]
            for r in csv.DictReader(handle)
            if r["source_split"] == "validation"
        }
    with gzip.open(CATALOG, "rt", encoding="utf-8", newline="") as src, into.open("w") as dst:
        reader = csv.reader(src)
        writer = csv.writer(dst)
        header = next(reader)
        writer.writerow(header)
        sid = header.index("track_id")
        writer.writerows(row for row in reader if row[sid] in wanted)
    return wanted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    labels = args.data / "music_mood_tags_dev.csv"
    if not labels.exists():
        raise SystemExit(f"no mood labels at {labels}: see ../shared/data/README.md")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "validation.csv"
        quadrant_of = validation_catalog(labels, csv_path)
        engine = create_db_engine(f"sqlite:///{tmp}/bench.db")
        migrate(engine)
        factory = make_session_factory(engine)
        report = import_catalog(csv_path, session_factory=factory)
        with factory() as session:
            matrix = load_matrix(session)
            tracks = {
                tid: str(t.spotify_id)
                for tid, t in repo.tracks_by_ids(matrix.ids.tolist(), session=session).items()
            }
            catalog_quadrants = [quadrant_of[sid] for sid in tracks.values()]
            results = {}
            for emotion, strategy, expected in CASES:
                case = f"{emotion}/{strategy}"
                base = float(np.mean([q == expected for q in catalog_quadrants]))
                row: dict[str, object] = {"expected": expected, "random": round(base, 4)}
                for method, preset in METHODS.items():
                    hits = []
                    for seed in range(args.seeds):
                        params = PlaylistParams(
                            emotions=emotion,
                            strategy=strategy,  # type: ignore[arg-type]
                            n=N,
                            personalization="low",
                            seed=seed,
                            preset=preset,
                        )
                        result = recommend_playlist(params, matrix=matrix, session=session)
                        chosen = [quadrant_of[tracks[r.id]] for r in result.ranked]
                        hits.append(np.mean([q == expected for q in chosen]))
                    row[method] = round(float(np.mean(hits)), 4)
                row["moodtune_vs_random"] = round(float(row["moodtune"]) / base, 2)  # type: ignore[arg-type]
                results[case] = row
    macro = {
        m: round(float(np.mean([r[m] for r in results.values()])), 4)  # type: ignore[misc]
        for m in (*METHODS, "random")
    }
    worst = min(float(r["moodtune_vs_random"]) for r in results.values())  # type: ignore[arg-type]
    doc = {
        "benchmark": "mood_fidelity",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "catalog": {
            "validation_labels": len(quadrant_of),
            "imported": report.inserted,
            "placeable": len(matrix),
            "flagged_non_music": sum(report.non_music.values()),
            "quadrant_shares": {
                q: round(catalog_quadrants.count(q) / len(catalog_quadrants), 4)
                for q in ("Q1", "Q2", "Q3", "Q4")
            },
        },
        "playlist_length": N,
        "seeds": args.seeds,
        "cases": results,
        "macro": macro,
        "moodtune_vs_naive_macro": round(macro["moodtune"] / macro["naive"], 3),
        "worst_case_vs_random": worst,
        "targets": {
            "macro_vs_naive": TARGET_VS_NAIVE,
            "every_case_vs_random": TARGET_VS_RANDOM,
            "met": macro["moodtune"] >= TARGET_VS_NAIVE * macro["naive"]
            and worst >= TARGET_VS_RANDOM,
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
