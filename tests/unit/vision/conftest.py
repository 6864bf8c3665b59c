import csv
import io
import os
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from moodtune.vision.images import decode_image

FACES_TAR = Path(__file__).resolve().parents[4] / "shared" / "data" / "faces_tw_dev.tar"


@pytest.fixture(scope="session")
def face_photos() -> list[tuple[str, np.ndarray]]:
    """(label, RGB pixels) for every real whole-head photo of faces_tw_dev, read in memory.

    Research-use photos: read from ../shared only, never copied into the repository.
    """
    if not FACES_TAR.exists():
        pytest.skip(f"real face photos not available at {FACES_TAR}")
    with tarfile.open(FACES_TAR) as tar:
        labels = tar.extractfile("faces_tw_dev/labels.csv")
        assert labels is not None
        rows = list(csv.DictReader(io.TextIOWrapper(labels, encoding="utf-8")))
        photos = []
        for row in rows:
            member = tar.extractfile(row["path"])
            assert member is not None
            photos.append((row["label"], decode_image(member.read())))
    return photos


#: Debian packages of photos without a human face (wallpapers with landscapes, artwork, two
#: dogs looking out of a window): ``apt-get install`` them to run the false-face tests.
FACELESS_PACKAGES = ("lomiri-wallpapers-16.04", "ukui-wallpapers")


@pytest.fixture(scope="session")
def faceless_photo_paths() -> list[Path]:
    """Every photo of :data:`FACELESS_PACKAGES` that is installed (skips when none is)."""
    paths = []
    for package in FACELESS_PACKAGES:
        listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        paths += [Path(p) for p in listing.stdout.split() if p.endswith((".jpg", ".png"))]
    paths = [p for p in paths if p.is_file()]
    if not paths:
        if os.environ.get("MOODTUNE_REQUIRE_FACELESS_PHOTOS"):
            pytest.fail(f"none of {FACELESS_PACKAGES} is installed")
        pytest.skip(f"photos without faces not installed: apt-get install {FACELESS_PACKAGES}")
    return sorted(paths)
