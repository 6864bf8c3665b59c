"""Full analysis of one audio file: decode windows, log-mel, CNN, DSP, in DESIGN.md vocabulary.

Analysis is bounded: at most ``max_windows`` windows of ``window_s`` seconds spread over the
file are decoded (a file no longer than that is read whole), so a ten-hour recording costs as
much as a one-minute one and a library analyses at hundreds of times real time.
"""

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from moodtune.audio.decode import ANALYSIS_RATE, load_windows, probe
from moodtune.audio.embed import AudioModel
from moodtune.audio.features import analyse_windows
from moodtune.audio.mel import N_FFT, log_mel_from_power, power_spectrogram
from moodtune.audio.music import MusicCheck, check_music
from moodtune.errors import BadAudio

__all__ = [
    "MAX_WINDOWS",
    "WINDOW_S",
    "TrackAnalysis",
    "analyse_file",
    "analyse_unnamed",
    "energy_from",
    "key_name",
]

NOTES = ("C", "C♯", "D", "D♯", "E", "F", "F♯", "G", "G♯", "A", "A♯", "B")

WINDOW_S = 10.0
MAX_WINDOWS = 6
#: Level (dBFS RMS) at which the loudness half of energy is 0.5, and its logistic scale.
_ENERGY_MID_DB, _ENERGY_SCALE_DB = -16.0, 4.0


@dataclass(frozen=True)
class TrackAnalysis:
    duration_s: float
    features: dict[str, float | int]  # DESIGN.md section 5 names
    estimators: dict[str, str]  # feature -> estimator that produced it
    style: dict[str, float]
    quadrant: dict[str, float]
    embedding: np.ndarray  # float32 (dim,)
    analysed_s: float  # seconds of audio actually decoded
    music: MusicCheck  # is it music at all (silence, noise, tones, speech are flagged)
    mel_preview: np.ndarray | None = None  # float32 (n_mels, frames) dB: the first window

    def to_json(self) -> dict[str, Any]:
        """The ``moodtune analyze`` shape of DESIGN.md section 6, plus quadrant and duration."""
        return {
            "features": self.features,
            "estimators": self.estimators,
            "style": {k: round(v, 4) for k, v in self.style.items()},
            "quadrant": {k: round(v, 4) for k, v in self.quadrant.items()},
            "embedding_dim": int(self.embedding.shape[0]),
            "duration_s": round(self.duration_s, 3),
            "analysed_s": round(self.analysed_s, 3),
            "music": {
                "likelihood": self.music.likelihood,
                "non_music": self.music.reason,
                "measures": self.music.measures,
            },
        }


def key_name(key: int | float | None, mode: int | float | None) -> str | None:
    """``C♯ minor`` from a pitch class and a mode (1 major, 0 minor)."""
    if key is None or not 0 <= int(key) < 12:
        return None
    return f"{NOTES[int(key)]} {'major' if mode is not None and int(mode) == 1 else 'minor'}"


def energy_from(arousal: float, loudness_db: float) -> float:
    """0..1 energy: half the model's arousal, half a logistic of the level.

    Spotify's energy tracks both perceived intensity and loudness (r = 0.76 with loudness in
    the bundled catalog), so each cue gets an equal share.
    """
    level = 1.0 / (1.0 + np.exp(-(loudness_db - _ENERGY_MID_DB) / _ENERGY_SCALE_DB))
    return round(float(0.5 * arousal + 0.5 * level), 4)


def analyse_unnamed(fill: Callable[[BinaryIO], object], model: AudioModel) -> TrackAnalysis:
    """Analyse audio that ``fill`` writes into an unnamed temporary file (``O_TMPFILE`` on
    Linux: no name in any directory, gone when closed): uploads and streamed songs are never
    stored, but the decoders read from a path."""
    with tempfile.TemporaryFile() as handle:
        fill(handle)
        handle.flush()
        return analyse_file(Path(f"/proc/self/fd/{handle.fileno()}"), model)


def analyse_file(
    path: Path, model: AudioModel, *, window_s: float = WINDOW_S, max_windows: int = MAX_WINDOWS
) -> TrackAnalysis:
    """Analyse one file; raises BadAudio for anything that is not usable audio."""
    info = probe(path)
    windows = [
        w
        for w in load_windows(path, window_s=window_s, max_windows=max_windows, info=info)
        if len(w) >= N_FFT
    ]
    if not windows:
        raise BadAudio(f"{path.name}: too short to analyse (under 0.1 s)", path=str(path))
    powers = [power_spectrogram(w) for w in windows]
    mels = [log_mel_from_power(p) for p in powers]
    dsp = analyse_windows(windows, mels=mels)
    out = model.run(mels)
    features: dict[str, float | int] = {
        "valence": round(out.valence, 4),
        "energy": energy_from(out.arousal, dsp.loudness),
        "danceability": dsp.danceability,
        "tempo": dsp.tempo,
        "loudness": dsp.loudness,
        "key": dsp.key,
        "mode": dsp.mode,
        "duration_ms": round(info.duration_s * 1000),
    }
    estimators = {
        **dsp.estimators,
        "valence": model.name,
        "energy": f"{model.name}+dsp-rms-v1",
        "duration_ms": info.decoder,
    }
    return TrackAnalysis(
        duration_s=info.duration_s,
        features=features,
        estimators=estimators,
        style=out.style,
        quadrant=out.quadrant,
        embedding=out.embedding,
        analysed_s=sum(len(w) for w in windows) / ANALYSIS_RATE,
        music=check_music(powers, pulse=dsp.pulse, duration_s=info.duration_s),
        mel_preview=mels[0],
    )
