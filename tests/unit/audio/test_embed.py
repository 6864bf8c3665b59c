import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moodtune.audio.decode import load
from moodtune.audio.embed import DEFAULT_AUDIO_MODEL, AudioModel, patches
from moodtune.audio.mel import log_mel
from moodtune.errors import InvalidInput, ModelError

DEMO = Path(__file__).resolve().parents[3] / "demo" / "music"


@pytest.fixture(scope="module")
def model() -> AudioModel:
    return AudioModel.from_path()


def test_patches_cover_the_spectrogram_and_pad_short_ones() -> None:
    mel = np.arange(128 * 300, dtype=np.float32).reshape(128, 300)
    out = patches(mel, frames=128, hop=64)
    assert out.shape == (3, 128, 128)  # starts 0, 64, 128; the tail after 256 is dropped
    assert np.array_equal(out[1], mel[:, 64:192])
    short = patches(mel[:, :50], frames=128, hop=64)
    assert short.shape == (1, 128, 128) and np.all(short[0, :, 50:] == mel[:, 49:50])
    with pytest.raises(InvalidInput):
        patches(np.zeros((128, 0), np.float32), frames=128, hop=64)


def test_model_outputs_are_probabilities_and_an_embedding(model: AudioModel) -> None:
    y = load(DEMO / "wesnoth_1.ogg", duration_s=20.0)
    out = model.run([log_mel(y)])
    assert out.embedding.shape == (model.embedding_dim,) and out.embedding.dtype == np.float32
    assert set(out.quadrant) == {"Q1", "Q2", "Q3", "Q4"}
    assert sum(out.quadrant.values()) == pytest.approx(1.0, abs=1e-4)
    assert all(0.0 <= p <= 1.0 for p in out.style.values()) and "classical" in out.style
    assert out.valence == pytest.approx(out.quadrant["Q1"] + out.quadrant["Q4"])
    assert out.patches == 6  # 20 s = 862 frames -> 6 patches of 128
    again = model.run([log_mel(y)])
    assert np.array_equal(out.embedding, again.embedding)  # deterministic


def test_batching_does_not_change_the_result(model: AudioModel) -> None:
    mel = log_mel(load(DEMO / "etr_1.ogg"))  # 83 s: 55 patches at hop 64 -> two ONNX batches
    batched = model.run([mel], hop=64)
    x = (patches(mel, frames=model.frames, hop=64) - model.mean) / model.std
    embedding, quadrant, _ = model.session.run(None, {"input": x.astype(np.float32)[:, None]})
    assert batched.patches == len(x) > 32
    assert np.allclose(batched.embedding, embedding.mean(axis=0), atol=1e-5)
    assert np.allclose(list(batched.quadrant.values()), quadrant.mean(axis=0), atol=1e-6)


def test_wrong_band_count_is_rejected(model: AudioModel) -> None:
    with pytest.raises(InvalidInput, match="128 bands"):
        model.run([np.zeros((64, 200), np.float32)])
    with pytest.raises(InvalidInput):
        model.run([])


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    spec = json.loads(DEFAULT_AUDIO_MODEL.read_text())
    shutil.copy(DEFAULT_AUDIO_MODEL, tmp_path / "audio.json")
    data = bytearray((DEFAULT_AUDIO_MODEL.parent / spec["file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / spec["file"]).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        AudioModel.from_path(tmp_path / "audio.json")
    with pytest.raises(ModelError, match="cannot read"):
        AudioModel.from_path(tmp_path / "missing.json")
