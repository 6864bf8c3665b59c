import csv
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from moodtune.audio.analysis import analyse_file
from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.audio.embed import AudioModel
from moodtune.audio.mel import power_spectrogram
from moodtune.audio.music import check_music

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "demo" / "music"
SHARED = REPO.parent / "shared" / "data"
RATE = ANALYSIS_RATE


@pytest.fixture(scope="module")
def model() -> AudioModel:
    return AudioModel.from_path()


def _wav(tmp_path: Path, name: str, y: np.ndarray) -> Path:
    path = tmp_path / f"{name}.wav"
    sf.write(path, y.astype(np.float32), RATE)
    return path


def _pink(rng: np.random.Generator, n: int) -> np.ndarray:
    spectrum = np.fft.rfft(rng.normal(0, 1, n))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(n, 1 / RATE)[1:])
    y = np.fft.irfft(spectrum, n)
    return 0.3 * y / np.abs(y).max()


def _generated() -> dict[str, tuple[np.ndarray, str]]:
    rng = np.random.default_rng(7)
    n = 25 * RATE
    t = np.arange(n) / RATE
    brown = np.cumsum(rng.normal(0, 1, n))
    brown -= np.convolve(brown, np.ones(2205) / 2205, "same")
    return {
        "white-noise": (rng.normal(0, 0.1, n), "noise (no pitched sound)"),
        "pink-noise": (_pink(rng, n), "noise (no pitched sound)"),
        "brown-noise": (0.3 * brown / np.abs(brown).max(), "noise (no pitched sound)"),
        "silence": (np.zeros(n), "silence"),
        "near-silence": (rng.normal(0, 1e-4, n), "silence"),
        "sine-440": (0.5 * np.sin(2 * np.pi * 440 * t), "pure tone"),
        "binaural-beat": (0.3 * (np.sin(2 * np.pi * 200 * t) + np.sin(2 * np.pi * 207 * t)),
                          "pure tone"),
        "sweep": (0.5 * np.sin(2 * np.pi * (100 * t + 80 * t**2)), "pure tone"),
    }  # fmt: skip


@pytest.mark.parametrize("name", list(_generated()))
def test_generated_non_music_is_flagged_with_its_reason(
    tmp_path: Path, model: AudioModel, name: str
) -> None:
    y, reason = _generated()[name]
    check = analyse_file(_wav(tmp_path, name, y), model).music
    assert check.flagged and check.reason == reason
    assert 0.0 <= check.likelihood < 0.5


def test_a_very_short_file_is_flagged(tmp_path: Path, model: AudioModel) -> None:
    y, rate = sf.read(DEMO / "wesnoth_0.ogg", frames=3 * 22050)
    path = tmp_path / "short.wav"
    sf.write(path, y, rate)
    check = analyse_file(path, model).music
    assert check.reason == "too short (3.0 s)"


def test_real_speech_is_flagged_as_spoken_word(
    spoken_word: list[Path], model: AudioModel, tmp_path: Path
) -> None:
    for path in spoken_word:
        assert analyse_file(path, model).music.reason == "speech or spoken word", path.name
    y, rate = sf.read(spoken_word[0])
    noise = _pink(np.random.default_rng(3), len(y))
    noisy = y + noise * np.std(y) / np.std(noise) * 0.1  # 20 dB SNR
    check = analyse_file(_wav(tmp_path, "noisy-talk", noisy / np.abs(noisy).max()), model).music
    assert check.reason == "speech or spoken word"


@pytest.mark.parametrize("path", sorted(DEMO.glob("*.ogg")), ids=lambda p: p.stem)
def test_the_demo_music_is_music(model: AudioModel, path: Path) -> None:
    check = analyse_file(path, model).music
    assert not check.flagged and check.likelihood > 0.9, check.measures


def _shared_music(tmp_path: Path) -> list[Path]:
    """Every game-music, GTZAN classical and GTZAN genre clip, and every third 4Q clip."""
    files = []
    for name, step in (("music_clips", 1), ("music_genres", 1), ("music_emotion", 3)):
        tar_path = SHARED / f"{name}.tar"
        if not tar_path.exists():
            pytest.skip(f"real music clips not available at {tar_path}")
        with tarfile.open(tar_path) as tar:
            labels = tar.extractfile(f"{name}/labels.csv")
            assert labels is not None
            rows = list(csv.DictReader(io.TextIOWrapper(labels, encoding="utf-8")))[::step]
            for row in rows:
                member = tar.extractfile(f"{name}/{row['file']}")
                assert member is not None
                target = tmp_path / name / row["file"]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(member.read())
                files.append(target)
    return files


def test_at_most_one_percent_of_real_music_is_flagged(tmp_path: Path, model: AudioModel) -> None:
    files = _shared_music(tmp_path)
    flagged = [(p.name, c.reason) for p in files if (c := analyse_file(p, model).music).flagged]
    assert len(files) > 400
    assert len(flagged) <= 0.01 * len(files), flagged


def test_check_music_reads_windows_directly() -> None:
    """The check works on power spectrograms alone; a chord with a beat is music."""
    t = np.arange(12 * RATE) / RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0, 523.3)) / 5
    beat = (np.sin(2 * np.pi * 2 * t) > 0.95).astype(float) * np.random.default_rng(0).normal(
        0, 0.3, len(t)
    )
    y = (chord * (0.6 + 0.4 * np.sin(2 * np.pi * 0.25 * t)) + beat).astype(np.float32)
    check = check_music([power_spectrogram(y)], pulse=0.6, duration_s=12.0)
    assert not check.flagged, check.measures
    assert set(check.measures) >= {"level_db", "tone_share", "pauses_per_min", "pulse"}
