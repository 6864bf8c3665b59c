"""Log-mel spectrograms: the input of the audio CNN and of several DSP estimates.

Hand-written in numpy rather than librosa: librosa brings numba and llvmlite (about 100 MB and
a JIT warm-up) for the two small functions needed here. The filterbank follows the Slaney mel
scale with area normalisation, as librosa's default does.
"""

from functools import cache

import numpy as np

from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.errors import InvalidInput

__all__ = [
    "HOP_LENGTH",
    "N_FFT",
    "N_MELS",
    "hz_to_mel",
    "log_mel",
    "log_mel_from_power",
    "mel_filterbank",
    "mel_to_hz",
    "power_spectrogram",
]

#: 128 bands as seed 003; a 2048-sample window (93 ms at 22.05 kHz) resolves 10.8 Hz bins, enough
#: for bass notes; a 512-sample hop (23 ms, 43 frames/s) follows onsets and beats.
N_MELS = 128
N_FFT = 2048
HOP_LENGTH = 512
FLOOR_DB = -100.0

_F_SP = 200.0 / 3  # Slaney: linear below 1 kHz (66.7 Hz per mel) ...
_MIN_LOG_HZ = 1000.0
_LOG_STEP = np.log(6.4) / 27.0  # ... and logarithmic above


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / _F_SP
    log_region = hz >= _MIN_LOG_HZ
    return np.where(
        log_region,
        _MIN_LOG_HZ / _F_SP + np.log(np.maximum(hz, 1e-9) / _MIN_LOG_HZ) / _LOG_STEP,
        mel,
    )


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    min_log_mel = _MIN_LOG_HZ / _F_SP
    return np.where(
        mel >= min_log_mel, _MIN_LOG_HZ * np.exp(_LOG_STEP * (mel - min_log_mel)), _F_SP * mel
    )


def mel_filterbank(
    *,
    sr: int = ANALYSIS_RATE,
    n_fft: int = N_FFT,
    n_mels: int = N_MELS,
    fmin: float = 0.0,
    fmax: float | None = None,
) -> np.ndarray:
    """Triangular mel filters.

    Returns
    -------
    weights : np.ndarray [shape=(n_mels, 1 + n_fft // 2)], float32
        Row ``m`` is a triangle over the FFT bins between mel edges ``m`` and ``m + 2``, scaled
        by ``2 / (f[m+2] - f[m])`` so every band has the same area (Slaney normalisation).
    """
    fmax = sr / 2 if fmax is None else fmax
    if not 0 <= fmin < fmax <= sr / 2:
        raise InvalidInput(f"need 0 <= fmin < fmax <= sr/2, got fmin={fmin}, fmax={fmax}, sr={sr}")
    fft_hz = np.linspace(0, sr / 2, 1 + n_fft // 2)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower = (fft_hz[None, :] - edges_hz[:-2, None]) / np.diff(edges_hz)[:-1, None]
    upper = (edges_hz[2:, None] - fft_hz[None, :]) / np.diff(edges_hz)[1:, None]
    weights = (
        np.maximum(0.0, np.minimum(lower, upper)) * (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    )
    return np.asarray(weights, dtype=np.float32)


def power_spectrogram(
    y: np.ndarray, *, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH
) -> np.ndarray:
    """|STFT|² with a centred, periodic Hann window.

    Returns
    -------
    power : np.ndarray [shape=(1 + len(y) // hop_length, 1 + n_fft // 2)], float32
        One row per frame; frame ``t`` is centred on sample ``t * hop_length`` (the signal is
        reflect-padded by ``n_fft // 2``, zero-padded when shorter than that).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise InvalidInput(f"y must be mono (1-D), got shape={y.shape}")
    if len(y) == 0:
        raise InvalidInput("y is empty")
    padded = np.pad(y, n_fft // 2, mode="reflect" if len(y) > n_fft // 2 else "constant")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length]
    window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann
    return np.asarray(np.abs(np.fft.rfft(frames * window, axis=1)) ** 2, dtype=np.float32)


def log_mel(
    y: np.ndarray,
    *,
    sr: int = ANALYSIS_RATE,
    n_fft: int = N_FFT,
    hop_length: int = HOP_LENGTH,
    n_mels: int = N_MELS,
) -> np.ndarray:
    """Log-power mel spectrogram of mono samples.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float, in [-1, 1]
        Mono samples at ``sr`` Hz (see :func:`moodtune.audio.decode.load`).

    Returns
    -------
    S_db : np.ndarray [shape=(n_mels, 1 + n // hop_length)], float32
        ``10 * log10(mel @ |STFT(y)|²)`` with a centred Hann window, floored at -100 dB. Absolute
        (not relative to the loudest frame), so loudness survives into the features.
    """
    power = power_spectrogram(y, n_fft=n_fft, hop_length=hop_length)
    return log_mel_from_power(power, sr=sr, n_fft=n_fft, n_mels=n_mels)


def log_mel_from_power(
    power: np.ndarray, *, sr: int = ANALYSIS_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> np.ndarray:
    """:func:`log_mel` from an existing :func:`power_spectrogram` (frames, bins), so callers
    that also need the linear spectrum compute the STFT once."""
    mel = _filterbank(sr, n_fft, n_mels) @ power.T
    return np.asarray(
        np.maximum(10.0 * np.log10(np.maximum(mel, 1e-10)), FLOOR_DB), dtype=np.float32
    )


@cache
def _filterbank(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    return mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels)
