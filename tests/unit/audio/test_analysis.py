from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from moodtune.audio.analysis import MAX_WINDOWS, WINDOW_S, analyse_file, energy_from
from moodtune.audio.embed import AudioModel
from moodtune.errors import BadAudio

DEMO = Path(__file__).resolve().parents[3] / "demo" / "music"
VOCABULARY = {"valence", "energy", "danceability", "tempo", "loudness", "key", "mode"}


@pytest.fixture(scope="module")
def model() -> AudioModel:
    return AudioModel.from_path()


def test_a_real_track_gets_every_feature_with_its_estimator(model: AudioModel) -> None:
    analysis = analyse_file(DEMO / "fof_muldjord_0.ogg", model)
    doc = analysis.to_json()
    assert VOCABULARY <= set(doc["features"]) and set(doc["features"]) <= set(doc["estimators"])
    features = doc["features"]
    assert 0 <= features["valence"] <= 1 and 0 <= features["energy"] <= 1
    assert 0 <= features["danceability"] <= 1
    assert 60 <= features["tempo"] <= 220 and -40 < features["loudness"] < 0
    assert features["key"] in range(12) and features["mode"] in (0, 1)
    assert features["duration_ms"] == pytest.approx(197_650, abs=100)
    assert doc["estimators"]["valence"] == model.name
    assert doc["embedding_dim"] == model.embedding_dim
    assert doc["analysed_s"] == pytest.approx(WINDOW_S * MAX_WINDOWS, abs=0.1)  # bounded


def test_a_ten_hour_file_costs_no_more_than_a_short_one(tmp_path: Path, model: AudioModel) -> None:
    rate = 8000  # 10 h at 8 kHz: 288 M samples in a sparse-ish FLAC, never loaded whole
    path = tmp_path / "long.flac"
    block = (0.3 * np.sin(2 * np.pi * 220 * np.arange(rate * 60) / rate)).astype(np.float32)
    with sf.SoundFile(str(path), "w", rate, 1, format="FLAC") as f:
        for _ in range(600):
            f.write(block)
    analysis = analyse_file(path, model)
    assert analysis.duration_s == pytest.approx(36_000, rel=1e-6)
    assert analysis.analysed_s == pytest.approx(WINDOW_S * MAX_WINDOWS, abs=0.1)


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (44100, 2), (48000, 6), (192000, 2)])
def test_any_rate_and_channel_layout(
    tmp_path: Path, model: AudioModel, rate: int, channels: int
) -> None:
    t = np.arange(rate * 3) / rate
    wave = 0.3 * np.sin(2 * np.pi * 330 * t)[:, None] * np.ones(channels)
    path = tmp_path / f"tone_{rate}_{channels}.wav"
    sf.write(str(path), wave, rate)
    analysis = analyse_file(path, model)
    assert analysis.duration_s == pytest.approx(3.0, abs=0.01)
    assert analysis.features["loudness"] == pytest.approx(-13.5, abs=0.5)  # 0.3 peak sine


def test_too_short_audio_is_a_bad_audio_error(tmp_path: Path, model: AudioModel) -> None:
    path = tmp_path / "blip.wav"
    sf.write(str(path), np.zeros(500, np.float32), 22050)
    with pytest.raises(BadAudio, match="too short"):
        analyse_file(path, model)


def test_energy_rises_with_arousal_and_level() -> None:
    assert energy_from(0.9, -6.0) > energy_from(0.1, -6.0) > energy_from(0.1, -30.0)
    assert 0.0 <= energy_from(0.0, -60.0) < energy_from(1.0, 0.0) <= 1.0
