import json
import tarfile
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from moodtune.cli import app
from moodtune.recommend import EMOTIONS

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
DESIGN_KEYS = {"accuracy", "macro_f1", "per_class", "confusion", "n"}


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_detect_prints_the_design_json() -> None:
    result = _run("emotion", "detect", str(FIXTURES / "astronaut.jpg"), "--json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"faces", "width", "height", "uncertain", "uncertain_reasons"}
    assert len(doc["faces"]) == 1
    assert set(doc["faces"][0]["emotions"]) == set(EMOTIONS)


def test_detect_human_output_and_no_face_exit() -> None:
    assert "1 face(s)" in _run("emotion", "detect", str(FIXTURES / "astronaut.jpg")).stdout
    result = _run("emotion", "detect", str(FIXTURES / "coffee.jpg"), "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["error"]["code"] == "no_face"


def test_detect_says_when_a_reading_is_uncertain(tmp_path: Path) -> None:
    small = tmp_path / "small.jpg"
    Image.open(FIXTURES / "astronaut.jpg").resize((200, 200)).save(small)
    doc = json.loads(_run("emotion", "detect", str(small), "--json").stdout)
    assert doc["uncertain"] and doc["faces"][0]["uncertain_reasons"] == ["small_face"]
    assert "uncertain" in _run("emotion", "detect", str(small)).stdout
    assert "uncertain" not in _run("emotion", "detect", str(FIXTURES / "astronaut.jpg")).stdout


def test_eval_needs_exactly_one_source() -> None:
    result = _run("eval", "emotion", "--json")
    assert result.exit_code == 1 and "exactly one" in json.loads(result.stdout)["error"]["message"]


def test_eval_on_the_fer2013_test_split() -> None:
    npz = SHARED / "fer2013.npz"
    if not npz.exists():
        pytest.skip(f"FER2013 not available at {npz}")
    doc = json.loads(_run("eval", "emotion", "--npz", str(npz), "--split", "test", "--json").stdout)
    assert DESIGN_KEYS <= set(doc) and doc["n"] == 3589
    assert doc["accuracy"] >= 0.60  # the shipped model's measured test accuracy is in its card
    assert set(doc["views"]) == {
        "seed000_happy_sad_neutral_angry",
        "seed004_happy_sad_surprise_neutral",
    }


def test_eval_on_a_folder_of_real_photos(tmp_path: Path) -> None:
    tar = SHARED / "faces_tw_dev.tar"
    if not tar.exists():
        pytest.skip(f"real face photos not available at {tar}")
    with tarfile.open(tar) as archive:  # regular files only (extractall's filter needs 3.11.4)
        for member in archive.getmembers():
            if member.isfile() and ".." not in Path(member.name).parts:
                target = tmp_path / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.extractfile(member).read())  # type: ignore[union-attr]
    folder = tmp_path / "faces_tw_dev"
    (folder / "labels.csv").unlink()
    no_face = folder / "neutral" / "zz_coffee.jpg"
    no_face.write_bytes((FIXTURES / "coffee.jpg").read_bytes())
    doc = json.loads(_run("eval", "emotion", "--folder", str(folder), "--json").stdout)
    assert DESIGN_KEYS <= set(doc) and doc["detected"] == 333 and doc["no_face"] == 1
    assert doc["accuracy"] >= 0.40
