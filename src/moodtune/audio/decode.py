"""Decode any audio file to mono float32 at the analysis rate, reading only what is needed.

mp3, flac, ogg/opus and wav go through libsndfile (``soundfile``); anything else (m4a/aac,
…) through FFmpeg when PyAV is installed. Damaged, empty or non-audio files raise BadAudio with
the reason, never a crash, so an importer can report them and go on.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from moodtune.errors import BadAudio

__all__ = ["ANALYSIS_RATE", "AudioInfo", "load", "load_windows", "probe"]

#: 22.05 kHz: mood and style cues live below 11 kHz, it halves the work of 44.1 kHz, and the
#: training clips are stored at this rate.
ANALYSIS_RATE = 22050


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int
    format: str
    decoder: str  # "libsndfile" or "ffmpeg"


@contextmanager
def _soundfile(path: Path) -> Iterator[Any]:
    import soundfile as sf

    try:
        handle = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise _NotLibsndfile(str(exc)) from exc
    with handle:
        yield handle


class _NotLibsndfile(Exception):
    pass


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise BadAudio(f"{path}: not a file", path=str(path))
    if path.stat().st_size == 0:
        raise BadAudio(f"{path.name}: the file is empty", path=str(path))


def probe(path: Path) -> AudioInfo:
    """Duration, rate, channels and container of an audio file, without decoding it."""
    _check_file(path)
    try:
        with _soundfile(path) as f:
            if f.frames <= 0 or f.samplerate <= 0:
                raise BadAudio(f"{path.name}: no audio samples", path=str(path))
            return AudioInfo(
                f.frames / f.samplerate,
                int(f.samplerate),
                int(f.channels),
                str(f.format),
                "libsndfile",
            )
    except _NotLibsndfile as exc:
        return _probe_ffmpeg(path, reason=str(exc))


def load(
    path: Path, *, sr: int = ANALYSIS_RATE, offset_s: float = 0.0, duration_s: float | None = None
) -> np.ndarray:
    """Mono float32 samples at ``sr`` Hz from ``offset_s`` for ``duration_s`` s (None: to the end).

    Channels are averaged (mono, stereo and 5.1 alike); any input rate is resampled with soxr.
    """
    _check_file(path)
    try:
        with _soundfile(path) as f:
            start = min(int(offset_s * f.samplerate), f.frames)
            count = (
                f.frames - start
                if duration_s is None
                else min(int(duration_s * f.samplerate), f.frames - start)
            )
            f.seek(start)
            samples = f.read(count, dtype="float32", always_2d=True)
            rate = int(f.samplerate)
    except _NotLibsndfile as exc:
        samples, rate = _load_ffmpeg(
            path, offset_s=offset_s, duration_s=duration_s, reason=str(exc)
        )
    except (RuntimeError, ValueError) as exc:  # libsndfile failing mid-stream: truncated data
        raise BadAudio(f"{path.name}: cannot decode: {exc}", path=str(path)) from exc
    return _mono_at(samples, rate, sr, path)


def load_windows(
    path: Path,
    *,
    sr: int = ANALYSIS_RATE,
    window_s: float = 8.0,
    max_windows: int = 12,
    info: AudioInfo | None = None,
) -> list[np.ndarray]:
    """Up to ``max_windows`` windows spread evenly over the file, for bounded analysis.

    A ten-hour file costs as much as ``max_windows * window_s`` seconds of audio; a file no
    longer than that comes back whole, as one window. ``info`` saves probing the file again
    when the caller has probed it already.
    """
    info = info or probe(path)
    if info.duration_s <= window_s * max_windows:
        return [load(path, sr=sr)]
    count = min(max_windows, max(1, int(info.duration_s // window_s)))
    starts = np.linspace(0.0, info.duration_s - window_s, count)
    return [load(path, sr=sr, offset_s=float(s), duration_s=window_s) for s in starts]


def _mono_at(samples: np.ndarray, rate: int, sr: int, path: Path) -> np.ndarray:
    if samples.size == 0:
        raise BadAudio(f"{path.name}: no audio samples", path=str(path))
    mono = (
        samples.mean(axis=1, dtype=np.float32) if samples.ndim == 2 else samples.astype(np.float32)
    )
    mono = np.nan_to_num(mono, nan=0.0, posinf=1.0, neginf=-1.0)
    if rate != sr:
        import soxr

        mono = soxr.resample(mono, rate, sr)
    return np.asarray(np.clip(mono, -1.0, 1.0), dtype=np.float32)


def _ffmpeg_unavailable(path: Path, reason: str) -> BadAudio:
    return BadAudio(
        f"{path.name}: not an audio file libsndfile can read ({reason}); "
        "m4a/aac need PyAV (pip install av)",
        path=str(path),
    )


def _probe_ffmpeg(path: Path, *, reason: str) -> AudioInfo:
    try:
        import av
    except ImportError:
        raise _ffmpeg_unavailable(path, reason) from None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadAudio(f"{path.name}: no audio stream", path=str(path))
            stream = container.streams.audio[0]
            time_base = stream.time_base or Fraction(1, stream.rate)
            duration = (
                float(stream.duration * time_base)
                if stream.duration
                else float(container.duration or 0) / 1e6
            )
            if duration <= 0:
                raise BadAudio(f"{path.name}: no audio samples", path=str(path))
            return AudioInfo(
                duration, int(stream.rate), int(stream.channels), container.format.name, "ffmpeg"
            )
    except av.FFmpegError as exc:
        raise BadAudio(f"{path.name}: not an audio file: {exc}", path=str(path)) from exc


def _load_ffmpeg(
    path: Path, *, offset_s: float, duration_s: float | None, reason: str
) -> tuple[np.ndarray, int]:
    try:
        import av
    except ImportError:
        raise _ffmpeg_unavailable(path, reason) from None
    chunks: list[np.ndarray] = []
    rate = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise BadAudio(f"{path.name}: no audio stream", path=str(path))
            stream = container.streams.audio[0]
            rate = int(stream.rate)
            time_base = stream.time_base or Fraction(1, rate)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            if offset_s > 0:
                container.seek(int(offset_s / time_base), stream=stream)
            wanted = None if duration_s is None else int(duration_s * rate)
            got = 0
            for frame in container.decode(stream):
                start_s = float(frame.pts * time_base) if frame.pts is not None else offset_s
                for mono in resampler.resample(frame):
                    data = mono.to_ndarray().reshape(-1)
                    if start_s < offset_s:  # seeking lands on a packet boundary before the offset
                        data = data[int((offset_s - start_s) * rate) :]
                    chunks.append(data)
                    got += len(data)
                if wanted is not None and got >= wanted:
                    break
    except av.FFmpegError as exc:
        raise BadAudio(f"{path.name}: cannot decode: {exc}", path=str(path)) from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    if duration_s is not None:
        samples = samples[: int(duration_s * rate)]
    return samples[:, None], rate
