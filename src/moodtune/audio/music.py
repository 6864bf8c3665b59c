"""Is this file music? Silence, steady noise, pure tones, speech and very short files are not.

Each check is a DSP measurement with a threshold set against real music (the 960 clips and
full tracks of ../shared/data) and non-music (espeak-ng speech in 8 languages, alone and in
noise; generated noise, tones and silence); ``bench/non_music.py`` measures both sides. A
check's margin to its threshold becomes a likelihood through a logistic, and the file's
``music_likelihood`` is the smallest one: below 0.5 the file is flagged, with the reason of
the most specific check that fired (in the order below). Hand-written rather than learned:
there is no labelled non-music corpus to learn from, and each reason must be one a listener
can check by ear.

Checks (on the analysis windows at 22.05 kHz):

* **too short**: under 5 s of audio.
* **silence**: the 95th percentile of frame level is below -60 dBFS.
* **pure tone**: 99 % of the mel power sits in 3 of 128 bands (sines, binaural beats, sweeps,
  test tones; the most concentrated real music reaches 98 %).
* **noise**: no pitched sound: the long-term spectrum has no peaks above its median-smoothed
  self (95th percentile under 1.8 dB; real music 2.0 at the lowest), or it does not change
  at all over time (band levels vary by under 0.8 dB; real music 1.0 at the lowest).
* **speech**: speech pauses between words and phrases (at least 18 per minute, each 90 ms or
  more and 25 dB below the surrounding 2 s), half the frames below half their second's mean
  energy (Scheirer & Slaney 1997's "low-energy frames") and no steady beat (pulse clarity
  under 0.15, see ``features.tempo_and_pulse``). Music with rests has a beat; speech has none.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from moodtune.audio.decode import ANALYSIS_RATE
from moodtune.audio.mel import HOP_LENGTH, N_FFT, log_mel_from_power

__all__ = ["MIN_MUSIC_S", "MusicCheck", "check_music"]

MIN_MUSIC_S = 5.0
_SILENCE_DB = -60.0
_TONE_SHARE = 0.99
_NOISE_PEAK_DB = 1.8
_STEADY_DB = 0.8
_SPEECH_PAUSES_PER_MIN = 18.0
_SPEECH_LOW_ENERGY = 0.45
_SPEECH_MAX_PULSE = 0.15
#: dB of full scale for a frame of ``power_spectrogram`` (Hann window, sum over bins).
_FULL_SCALE = N_FFT * 0.375 * (N_FFT / 2)


@dataclass(frozen=True)
class MusicCheck:
    """How likely a file is music, and why not when it is flagged."""

    likelihood: float  # 0..1; below 0.5 the file is flagged
    reason: str | None  # e.g. "speech or spoken word"; None for music
    measures: dict[str, float]  # every measurement, for reports and tuning

    @property
    def flagged(self) -> bool:
        return self.reason is not None


def _logistic(margin: float, scale: float) -> float:
    return float(1.0 / (1.0 + np.exp(-np.clip(margin / scale, -50.0, 50.0))))


def _frame_db(power: np.ndarray) -> np.ndarray:
    return np.asarray(10.0 * np.log10(power.sum(axis=1) / _FULL_SCALE + 1e-12))


def _peak_prominence_db(power: np.ndarray) -> float:
    """Median over (up to 16) 1 s blocks of how far the long-term spectrum's strongest 5 % of
    bins rise above its 31-bin running median: harmonics of notes rise, noise stays smooth."""
    block = max(1, round(ANALYSIS_RATE / HOP_LENGTH))
    starts = np.arange(0, len(power) - block + 1, block)
    # 16 blocks spread over the file say as much as all 60 and cost a quarter
    starts = starts[np.linspace(0, len(starts) - 1, min(len(starts), 16)).astype(int)]
    values = []
    for start in starts.tolist():
        ltas = 10.0 * np.log10(power[start : start + block].mean(axis=0)[5:700] + 1e-12)
        if ltas.max() < _SILENCE_DB + 10.0 * np.log10(_FULL_SCALE) - 20.0:
            continue  # a silent block says nothing about pitch
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(ltas, 15, mode="edge"), 31)
        values.append(float(np.percentile(ltas - np.median(windows, axis=1), 95)))
    return float(np.median(values)) if values else 0.0


def _steadiness_db(mel_power: np.ndarray) -> float:
    """Median over the audible bands of the std over time of their level (16 bands, 0.23 s
    means): music changes, hum and noise do not."""
    frames = (len(mel_power) // 10) * 10
    if frames < 20:
        return 0.0
    bands = mel_power[:frames].reshape(frames, 16, -1).sum(axis=2)
    smooth = bands.reshape(-1, 10, 16).mean(axis=1)
    level = 10.0 * np.log10(smooth + 1e-12)
    audible = level.mean(axis=0) > level.mean(axis=0).max() - 30.0
    return float(np.median(level[:, audible].std(axis=0)))


def _pauses_per_minute(frame_db: np.ndarray) -> float:
    """Runs of at least 4 frames (93 ms) 25 dB below the loudest frame within ±1 s."""
    reach = round(ANALYSIS_RATE / HOP_LENGTH)
    padded = np.pad(frame_db, reach, mode="edge")
    local_max = np.lib.stride_tricks.sliding_window_view(padded, 2 * reach + 1).max(axis=1)
    quiet = (frame_db < local_max - 25.0).astype(np.int8)
    edges = np.diff(np.concatenate([[0], quiet, [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    minutes = len(frame_db) * HOP_LENGTH / ANALYSIS_RATE / 60.0
    return float((lengths >= 4).sum() / minutes) if minutes > 0 else 0.0


def _low_energy_share(power: np.ndarray) -> float:
    """Share of frames below half the mean energy of their 1 s block."""
    block = round(ANALYSIS_RATE / HOP_LENGTH)
    energy = power.sum(axis=1)
    frames = (len(energy) // block) * block
    if frames == 0:
        return 0.0
    blocks = energy[:frames].reshape(-1, block)
    return float((blocks < 0.5 * blocks.mean(axis=1, keepdims=True)).mean())


def check_music(powers: Sequence[np.ndarray], *, pulse: float, duration_s: float) -> MusicCheck:
    """Music likelihood of a file from its analysis windows.

    Parameters
    ----------
    powers : Sequence[np.ndarray [shape=(frames, 1 + N_FFT // 2)]]
        ``mel.power_spectrogram`` of each analysis window.
    pulse : float
        Pulse clarity 0..1 of the track (``DspFeatures.pulse``).
    duration_s : float
        Length of the whole file in seconds.

    Returns
    -------
    MusicCheck
        ``likelihood`` = the smallest per-check likelihood; ``reason`` names that check when
        the likelihood is below 0.5.
    """
    power = np.concatenate(list(powers)) if powers else np.zeros((1, N_FFT // 2 + 1))
    frame_db = _frame_db(power)
    level_db = float(np.percentile(frame_db, 95))
    active = power[frame_db > level_db - 30.0] if level_db > _SILENCE_DB else power
    mel_power = 10.0 ** (log_mel_from_power(active).T / 10.0)
    ordered = np.sort(mel_power, axis=1)[:, ::-1]
    tone_share = float(np.median(ordered[:, :3].sum(axis=1) / (ordered.sum(axis=1) + 1e-20)))
    measures = {
        "duration_s": round(duration_s, 2),
        "level_db": round(level_db, 2),
        "tone_share": round(tone_share, 4),
        "peak_prominence_db": round(_peak_prominence_db(active), 3),
        "steadiness_db": round(_steadiness_db(mel_power), 3),
        "pauses_per_min": round(_pauses_per_minute(frame_db), 2),
        "low_energy_share": round(_low_energy_share(power), 3),
        "pulse": round(pulse, 3),
    }
    speech = min(
        _logistic(measures["pauses_per_min"] - _SPEECH_PAUSES_PER_MIN, 2.0),
        _logistic(measures["low_energy_share"] - _SPEECH_LOW_ENERGY, 0.02),
        _logistic(_SPEECH_MAX_PULSE - pulse, 0.02),
    )
    likelihoods = {  # of being music, per check, most specific reason first
        f"too short ({duration_s:.1f} s)": _logistic(duration_s - MIN_MUSIC_S, 0.25),
        "silence": _logistic(level_db - _SILENCE_DB, 1.5),
        "pure tone": _logistic(_TONE_SHARE - tone_share, 0.002),
        "speech or spoken word": 1.0 - speech,
        "noise (no pitched sound)": _logistic(
            measures["peak_prominence_db"] - _NOISE_PEAK_DB, 0.05
        ),
        "steady noise or drone": _logistic(measures["steadiness_db"] - _STEADY_DB, 0.05),
    }
    if level_db <= _SILENCE_DB:  # below the noise floor every other measure is meaningless
        likelihoods = {k: v for k, v in likelihoods.items() if k.startswith(("too", "silence"))}
    reason = next((name for name, value in likelihoods.items() if value < 0.5), None)
    return MusicCheck(
        likelihood=round(min(likelihoods.values()), 4), reason=reason, measures=measures
    )
