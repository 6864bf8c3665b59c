import numpy as np
import pytest

from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.audio.mel import (
    FLOOR_DB,
    HOP_LENGTH,
    N_FFT,
    N_MELS,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
)
from moodtune.errors import InvalidInput


def _sine(hz: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(ANALYSIS_RATE * seconds)) / ANALYSIS_RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def _band_centres() -> np.ndarray:
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(ANALYSIS_RATE / 2), N_MELS + 2))
    return edges[1:-1]


def test_shape_follows_the_hop() -> None:
    spec = log_mel(_sine(440.0, 2.0))
    assert spec.shape == (N_MELS, 1 + 2 * ANALYSIS_RATE // HOP_LENGTH) and spec.dtype == np.float32


@pytest.mark.parametrize("hz", [110.0, 440.0, 1000.0, 3000.0, 8000.0])
def test_a_pure_tone_peaks_in_its_band(hz: float) -> None:
    band = int(np.argmax(log_mel(_sine(hz)).mean(axis=1)))
    centres = _band_centres()
    assert abs(centres[band] - hz) <= max(0.08 * hz, 25.0)


def test_silence_sits_on_the_floor_and_louder_is_higher() -> None:
    assert log_mel(np.zeros(ANALYSIS_RATE, np.float32)).max() == FLOOR_DB
    quiet, loud = log_mel(0.1 * _sine(440.0)).max(), log_mel(_sine(440.0)).max()
    assert loud - quiet == pytest.approx(20 * np.log10(10), abs=0.5)  # 10x amplitude = +20 dB


def test_mel_scale_round_trips_and_is_linear_below_1khz() -> None:
    hz = np.array([0.0, 200.0, 999.0, 1000.0, 4000.0, 11025.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-9, atol=1e-6)
    assert hz_to_mel(500.0) == pytest.approx(2 * hz_to_mel(250.0))


def test_filterbank_covers_the_spectrum_with_equal_area_bands() -> None:
    weights = mel_filterbank()
    assert weights.shape == (N_MELS, 1 + N_FFT // 2) and (weights >= 0).all()
    assert (weights.sum(axis=1) > 0).all()  # no empty band at 2048-point resolution
    assert (weights[:, 1:-1].sum(axis=0) > 0).mean() > 0.99


@pytest.mark.parametrize(
    ("y", "match"), [(np.zeros((2, 100), np.float32), "mono"), (np.zeros(0, np.float32), "empty")]
)
def test_bad_input(y: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInput, match=match):
        log_mel(y)
    with pytest.raises(InvalidInput, match="fmin"):
        mel_filterbank(fmin=9000.0, fmax=8000.0)


def test_very_short_input_still_gives_one_frame() -> None:
    assert log_mel(_sine(440.0, 0.01)).shape == (N_MELS, 1)
