import numpy as np
import pytest

from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.audio.features import (
    analyse,
    analyse_windows,
    danceability_from_pulse,
    estimate_key,
    estimate_loudness,
    estimate_tempo,
    rule_valence_arousal,
)
from moodtune.errors import InvalidInput

SR = ANALYSIS_RATE


def _clicks(bpm: float, seconds: float = 20.0) -> np.ndarray:
    """Short decaying 1 kHz clicks on every beat."""
    y = np.zeros(int(SR * seconds), np.float32)
    click = (np.sin(2 * np.pi * 1000 * np.arange(400) / SR) * np.exp(-np.arange(400) / 80)).astype(
        np.float32
    )
    for start in (np.arange(0, seconds, 60.0 / bpm) * SR).astype(int):
        y[start : start + 400] += click[: len(y) - start]
    return y


def _chord(midi: list[int], *, seconds: float = 4.0, harmonics: int = 1) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    y = sum(
        np.sin(2 * np.pi * 440.0 * 2 ** ((m - 69) / 12) * k * t) / k
        for m in midi
        for k in range(1, harmonics + 1)
    )
    return (0.2 * y / len(midi)).astype(np.float32)


@pytest.mark.parametrize("bpm", [70.0, 90.0, 120.0, 128.0, 150.0])
def test_click_tracks_give_their_tempo(bpm: float) -> None:
    assert estimate_tempo(_clicks(bpm)) == pytest.approx(bpm, abs=2.0)


@pytest.mark.parametrize("signal", ["silence", "steady-tone"])
def test_no_rhythm_gives_tempo_zero(signal: str) -> None:
    y = np.zeros(SR * 10, np.float32) if signal == "silence" else _chord([69], seconds=10.0)
    assert estimate_tempo(y) == 0.0


@pytest.mark.parametrize(
    ("midi", "key", "mode"),
    [([60, 64, 67], 0, 1), ([57, 60, 64], 9, 0), ([67, 71, 74], 7, 1), ([62, 65, 69], 2, 0)],
    ids=["C-major", "A-minor", "G-major", "D-minor"],
)
@pytest.mark.parametrize("harmonics", [1, 4], ids=["sine", "rich"])
def test_triads_give_their_key_and_mode(
    midi: list[int], key: int, mode: int, harmonics: int
) -> None:
    found_key, found_mode, confidence = estimate_key(_chord(midi, harmonics=harmonics))
    assert (found_key, found_mode) == (key, mode) and confidence > 0


@pytest.mark.parametrize(
    ("midi", "key", "mode"),
    [([42, 45, 49], 6, 0), ([38, 42, 45], 2, 1)],
    ids=["F#m-bass", "D-bass"],
)
def test_bass_register_chords_are_not_pulled_toward_c(midi: list[int], key: int, mode: int) -> None:
    """Coarse FFT bins once mapped bass notes onto C; per-semitone chroma must not."""
    assert estimate_key(_chord(midi, harmonics=4))[:2] == (key, mode)


def test_silence_has_no_key() -> None:
    assert estimate_key(np.zeros(SR, np.float32)) == (-1, 1, 0.0)


def test_loudness_in_dbfs() -> None:
    assert estimate_loudness(np.sin(2 * np.pi * 440 * np.arange(SR) / SR)) == pytest.approx(
        -3.01, abs=0.05
    )
    assert estimate_loudness(np.zeros(SR)) == -60.0


def test_analyse_names_every_estimator() -> None:
    features = analyse(_clicks(120.0) + _chord([60, 64, 67], seconds=20.0))
    assert features.tempo == pytest.approx(120.0, abs=2.0) and (features.key, features.mode) == (
        0,
        1,
    )
    assert set(features.estimators) == {"tempo", "key", "mode", "loudness", "danceability"}
    with pytest.raises(InvalidInput, match="mono audio"):
        analyse(np.zeros(100, np.float32))


def test_danceability_prefers_a_clear_beat_at_a_walking_tempo() -> None:
    rng = np.random.default_rng(0)
    beat = analyse(_clicks(118.0)).danceability
    noise = analyse(rng.normal(0, 0.1, SR * 20).astype(np.float32)).danceability
    slow = analyse(_clicks(45.0)).danceability
    assert beat > 0.6 and beat > slow and beat > noise
    assert danceability_from_pulse(0.9, 0.0) == 0.0


def test_seed_000_rule_reads_mode_and_tempo() -> None:
    assert rule_valence_arousal(1, 150.0)[0] > 0.5 > rule_valence_arousal(0, 150.0)[0]
    assert rule_valence_arousal(1, 150.0)[1] > 0.5 > rule_valence_arousal(1, 80.0)[1]
    assert rule_valence_arousal(1, 0.0)[1] == 0.0  # no beat: not aroused


def test_windows_are_combined_by_median_tempo() -> None:
    features = analyse_windows([_clicks(120.0, 10.0), _clicks(120.0, 10.0), _clicks(90.0, 10.0)])
    assert features.tempo == pytest.approx(120.0, abs=2.0)
    with pytest.raises(InvalidInput):
        analyse_windows([])
