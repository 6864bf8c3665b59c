"""DSP estimates in DESIGN.md's feature vocabulary: tempo, key and mode, loudness.

Each value comes with the name of the estimator that produced it, so a catalog can tell
Spotify's numbers from ours and a better estimator can replace one later.
"""

from dataclasses import dataclass, field

import numpy as np

from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.audio.mel import HOP_LENGTH, N_FFT, log_mel, power_spectrogram
from moodtune.errors import InvalidInput

__all__ = ["DspFeatures", "estimate_key", "estimate_loudness", "estimate_tempo", "analyse"]

#: Krumhansl & Kessler (1982) probe-tone profiles, C major and C minor.
_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
_TEMPO_RANGE_BPM = (40.0, 220.0)
#: Log-normal prior on tempo centred at 120 BPM (one octave standard deviation), as in
#: Ellis (2007) "Beat tracking by dynamic programming": it settles octave ambiguities.
_PRIOR_BPM, _PRIOR_OCTAVES = 120.0, 1.0


@dataclass(frozen=True)
class DspFeatures:
    tempo: float  # BPM
    key: int  # 0 = C … 11 = B, -1 unknown
    mode: int  # 1 major, 0 minor
    loudness: float  # dBFS, RMS over the signal
    key_confidence: float  # correlation margin of the best key over the runner-up, 0..2
    estimators: dict[str, str] = field(default_factory=dict)


def _onset_envelope(y: np.ndarray, sr: int) -> np.ndarray:
    """Spectral flux of the log-mel spectrogram: summed positive change per frame, mean removed."""
    spec = log_mel(y, sr=sr)
    flux = np.maximum(0.0, np.diff(spec, axis=1)).sum(axis=0)
    return np.asarray(flux - flux.mean(), dtype=np.float32)


def estimate_tempo(y: np.ndarray, *, sr: int = ANALYSIS_RATE) -> float:
    """Tempo in BPM from the autocorrelation of the onset envelope.

    The autocorrelation is weighted by a log-normal prior around 120 BPM and its peak refined
    by parabolic interpolation (the hop alone gives ±3 BPM steps at 120 BPM). Returns 0.0 for
    signals with no rhythm to speak of (silence, a steady tone), as Spotify's data does.
    """
    envelope = _onset_envelope(y, sr)
    fps = sr / HOP_LENGTH
    n = len(envelope)
    min_lag = int(np.floor(60.0 * fps / _TEMPO_RANGE_BPM[1]))
    max_lag = min(int(np.ceil(60.0 * fps / _TEMPO_RANGE_BPM[0])), n // 2)
    if max_lag <= min_lag + 2 or not np.any(envelope):
        return 0.0
    spectrum = np.fft.rfft(envelope, 2 * n)
    acf = np.fft.irfft(np.abs(spectrum) ** 2)[: max_lag + 2]
    if acf[0] <= 0:
        return 0.0
    acf = acf / acf[0]
    lags = np.arange(min_lag, max_lag + 1)
    bpm = 60.0 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / _PRIOR_BPM) / _PRIOR_OCTAVES) ** 2)
    best = int(lags[np.argmax(acf[lags] * prior)])
    if acf[best] < 0.05:  # no periodicity worth the name
        return 0.0
    left, centre, right = acf[best - 1], acf[best], acf[best + 1]
    denominator = left - 2 * centre + right
    offset = 0.5 * (left - right) / denominator if denominator < 0 else 0.0
    return round(float(60.0 * fps / (best + offset)), 2)


#: Chroma needs finer bins than the mel spectrogram: at 2048 points (10.8 Hz) bass semitones
#: share bins and bin multiples fall on C (6 x 10.77 Hz = 64.6 Hz = C2), biasing keys toward C.
_CHROMA_FFT, _CHROMA_HOP, _CHROMA_FMIN, _CHROMA_FMAX = 8192, 2048, 55.0, 5000.0


def _chroma(y: np.ndarray, sr: int) -> np.ndarray:
    """Energy per pitch class (C … B): mean STFT power per semitone, summed over octaves.

    Averaging per semitone before folding makes every note count once, however many FFT bins
    cover it (few in the bass, many in the treble).
    """
    power = power_spectrogram(y, n_fft=_CHROMA_FFT, hop_length=_CHROMA_HOP).sum(axis=0)
    freqs = np.fft.rfftfreq(_CHROMA_FFT, 1.0 / sr)
    usable = (freqs >= _CHROMA_FMIN) & (freqs <= _CHROMA_FMAX)
    midi = np.round(12 * np.log2(freqs[usable] / 440.0) + 69).astype(int)
    notes, inverse = np.unique(midi, return_inverse=True)
    per_note = np.bincount(inverse, weights=power[usable]) / np.bincount(inverse)
    return np.bincount(notes % 12, weights=per_note, minlength=12)


def estimate_key(y: np.ndarray, *, sr: int = ANALYSIS_RATE) -> tuple[int, int, float]:
    """(key 0–11, mode 1 major / 0 minor, confidence) by correlating the chroma with the
    Krumhansl–Kessler profiles in all 24 keys; (-1, 1, 0.0) when there is no pitched energy."""
    chroma = _chroma(y, sr)
    if chroma.sum() <= 0 or np.allclose(chroma, chroma.mean()):
        return -1, 1, 0.0
    scores = np.array(
        [
            [np.corrcoef(chroma, np.roll(profile, key))[0, 1] for key in range(12)]
            for profile in (_MINOR, _MAJOR)
        ]
    )
    order = np.argsort(scores, axis=None)[::-1]
    mode, key = np.unravel_index(order[0], scores.shape)
    margin = float(scores.flat[order[0]] - scores.flat[order[1]])
    return int(key), int(mode), round(margin, 4)


def estimate_loudness(y: np.ndarray) -> float:
    """RMS level in dBFS (a full-scale sine is -3 dB), floored at -60 dB like Spotify's range."""
    rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
    return round(max(20.0 * float(np.log10(max(rms, 1e-12))), -60.0), 2)


def analyse(y: np.ndarray, *, sr: int = ANALYSIS_RATE) -> DspFeatures:
    """Every DSP estimate of one mono signal, with estimator names."""
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) < N_FFT:
        raise InvalidInput(f"need mono audio of at least {N_FFT} samples, got shape={y.shape}")
    key, mode, confidence = estimate_key(y, sr=sr)
    return DspFeatures(
        tempo=estimate_tempo(y, sr=sr),
        key=key,
        mode=mode,
        loudness=estimate_loudness(y),
        key_confidence=confidence,
        estimators={
            "tempo": "dsp-acf-v1",
            "key": "dsp-kk-chroma-v1",
            "mode": "dsp-kk-chroma-v1",
            "loudness": "dsp-rms-v1",
        },
    )
