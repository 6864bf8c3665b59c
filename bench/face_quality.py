"""False faces on photos without people, faces kept on photos of people: the face-quality gate.

    apt-get install gnome-backgrounds sway-backgrounds plasma-workspace-wallpapers \\
        lomiri-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04 ukui-wallpapers opencv-doc
    .venv/bin/python bench/face_quality.py

Faceless photos: every image of those Debian packages (one per wallpaper where a package ships
several sizes of it), minus the opencv-doc images that show people. People: the 333 photos of
faces_tw_dev, the opencv-doc photos of people and 1,000 FER2013 training faces (grey 48 px,
at 4x as training detects them). Every photo goes through the app's path (decoded to the
analysed size, then the shipped YuNetDetector) at each score threshold of a grid; the shipped
threshold is the lowest with no face on any faceless photo. Prints one JSON object and writes
bench/results/face_quality.json.
"""

import argparse
import json
import subprocess
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np

from moodtune.vision.faces import (
    FACE_GEOMETRY,
    MIN_FACE_SCORE,
    YuNetDetector,
)
from moodtune.vision.images import decode_photo
from moodtune.vision.pipeline import ANALYSIS_SIDE

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results" / "face_quality.json"
FACELESS_PACKAGES = (
    "gnome-backgrounds",
    "sway-backgrounds",
    "plasma-workspace-wallpapers",
    "lomiri-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "ukui-wallpapers",
    "opencv-doc",
)
#: opencv-doc sample images with people in them (calibration shots, a football match, ...).
OPENCV_WITH_PEOPLE = ("left", "right", "basketball", "messi")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def package_files(package: str) -> list[Path]:
    listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
    paths = [Path(p) for p in listing.stdout.split() if p.lower().endswith(IMAGE_SUFFIXES)]
    return [p for p in paths if p.is_file() and "screenshot" not in p.name]


def opencv_samples(with_people: bool) -> list[Path]:
    paths = [p for p in package_files("opencv-doc") if p.parent.name == "data"]
    return [p for p in paths if p.name.startswith(OPENCV_WITH_PEOPLE) == with_people]


def package_images(package: str) -> list[Path]:
    """A package's photos: one per wallpaper folder (its smallest size), no screenshots."""
    if package == "opencv-doc":
        return opencv_samples(with_people=False)
    paths = package_files(package)
    one_per_wallpaper: dict[str, Path] = {}
    for path in sorted(paths, key=lambda p: p.stat().st_size):
        key = str(path).split("/contents/")[0]  # plasma: <name>/contents/images/<size>.jpg
        if package == "sway-backgrounds":
            key = package  # the same design at eight sizes
        one_per_wallpaper.setdefault(key, path)
    return sorted(one_per_wallpaper.values())


def faceless_photos() -> dict[str, list[np.ndarray]]:
    """Analysed pixels of every faceless photo, by package (missing packages are empty)."""
    return {
        package: [decode_photo(p.read_bytes(), max_side=ANALYSIS_SIDE).pixels for p in paths]
        for package in FACELESS_PACKAGES
        for paths in [package_images(package)]
    }


def people_photos(fer_count: int, seed: int) -> dict[str, list[np.ndarray]]:
    """Photos with exactly one person each: what the gate must keep."""
    with tarfile.open(SHARED / "faces_tw_dev.tar") as tar:
        tw_dev = [
            decode_photo(tar.extractfile(m).read(), max_side=ANALYSIS_SIDE).pixels  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and m.name.endswith(".jpg")
        ]
    opencv = [
        decode_photo(p.read_bytes(), max_side=ANALYSIS_SIDE).pixels
        for p in opencv_samples(with_people=True)
    ]
    return {
        "faces_tw_dev": tw_dev,
        "opencv_doc_people": opencv,
        "fer2013_train_sample": fer_faces(fer_count, seed),
    }


def fer_faces(count: int, seed: int) -> list[np.ndarray]:
    """FER2013 training faces at 4x with a 48 px border, the way training finds landmarks."""
    data = dict(np.load(SHARED / "fer2013.npz"))
    rows = np.random.default_rng(seed).choice(np.flatnonzero(data["split"] == "train"), count)
    out = []
    for i in rows:
        big = cv2.resize(data["images"][i], None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
        big = cv2.copyMakeBorder(big, 48, 48, 48, 48, cv2.BORDER_REPLICATE)
        out.append(np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2)))
    return out


def sweep(
    faceless: dict[str, list[np.ndarray]], people: dict[str, list[np.ndarray]], **options: object
) -> dict[float, dict]:
    """The real detector at each score threshold: faceless photos with a face, faces kept."""
    out = {}
    for threshold in THRESHOLDS:
        detector = YuNetDetector(min_confidence=threshold, **options)  # type: ignore[arg-type]
        false = {
            f"{package}#{i}": [round(f.score, 3) for f in faces]
            for package, photos in faceless.items()
            for i, pixels in enumerate(photos)
            if (faces := detector.detect(pixels))
        }
        kept = {
            name: round(float(np.mean([bool(detector.detect(p)) for p in photos])), 4)
            for name, photos in people.items()
            if photos
        }
        out[threshold] = {"false_face_photos": false, "people_photos_with_a_face": kept}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fer", type=int, default=1000, help="FER2013 faces to check")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    faceless, people = faceless_photos(), people_photos(args.fer, args.seed)
    gated = sweep(faceless, people)
    chosen = min(t for t, r in gated.items() if not r["false_face_photos"])
    result = {
        "benchmark": "face_quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "faceless_photos": {k: len(v) for k, v in faceless.items()},
        "people_photos": {k: len(v) for k, v in people.items()},
        "chosen_min_score": chosen,
        "shipped_min_score": MIN_FACE_SCORE,
        "shipped": gated[MIN_FACE_SCORE],
        "shipped_without_geometry_check": sweep(faceless, people, check_geometry=False)[
            MIN_FACE_SCORE
        ],
        "by_threshold": {str(t): r for t, r in gated.items()},
        "shipped_geometry": FACE_GEOMETRY,
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
