import csv
import io
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
