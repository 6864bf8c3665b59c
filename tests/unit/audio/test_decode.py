import csv
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from moodtune.audio.decode import ANALYSIS_RATE, load, load_windows, probe
from moodtune.errors import BadAudio

SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


def _tone(
    path: Path,
    *,
    hz: float = 440.0,
    rate: int = 44100,
    seconds: float = 2.0,
    channels: int = 1,
    **kwargs: object,
) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * hz * t)
    sf.write(str(path), np.repeat(wave[:, None], channels, axis=1), rate, **kwargs)
    return path


def _peak_hz(y: np.ndarray, sr: int = ANALYSIS_RATE) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.fft.rfftfreq(len(y), 1 / sr)[np.argmax(spectrum)])


@pytest.mark.parametrize(
    ("suffix", "kwargs"),
    [
        (".wav", {}),
        (".flac", {}),
        (".ogg", {"format": "OGG", "subtype": "VORBIS"}),
        (".mp3", {"format": "MP3"}),
        (".opus", {"format": "OGG", "subtype": "OPUS"}),
    ],
    ids=["wav", "flac", "ogg-vorbis", "mp3", "opus"],
)
def test_formats_decode_to_mono_at_the_analysis_rate(
    tmp_path: Path, suffix: str, kwargs: dict
) -> None:
    rate = 48000 if suffix == ".opus" else 44100  # Opus only runs at 48 kHz
    y = load(_tone(tmp_path / f"a{suffix}", rate=rate, **kwargs))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / ANALYSIS_RATE - 2.0) < 0.1
    assert abs(_peak_hz(y) - 440.0) < 3


@pytest.mark.parametrize("rate", [8000, 11025, 96000, 192000])
def test_any_sample_rate_is_resampled(tmp_path: Path, rate: int) -> None:
    y = load(_tone(tmp_path / "r.wav", hz=1000, rate=rate))
    assert abs(len(y) - 2 * ANALYSIS_RATE) <= 2 and abs(_peak_hz(y) - 1000) < 3


@pytest.mark.parametrize("channels", [1, 2, 6], ids=["mono", "stereo", "5.1"])
def test_channels_are_averaged(tmp_path: Path, channels: int) -> None:
    info = probe(_tone(tmp_path / "c.wav", channels=channels))
    assert info.channels == channels and info.decoder == "libsndfile"
    assert np.abs(load(tmp_path / "c.wav")).max() == pytest.approx(0.5, abs=0.01)


def test_m4a_goes_through_ffmpeg(tmp_path: Path) -> None:
    av = pytest.importorskip("av", reason="PyAV decodes m4a/aac when installed")
    path = tmp_path / "a.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100, layout="mono")
        t = np.arange(44100 * 2) / 44100
        frame = av.AudioFrame.from_ndarray(
            (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :],
            format="fltp",
            layout="mono",
        )
        frame.sample_rate = 44100
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert probe(path).decoder == "ffmpeg"
    y = load(path)
    assert abs(len(y) / ANALYSIS_RATE - 2.0) < 0.15 and abs(_peak_hz(y) - 440) < 3
    assert abs(len(load(path, offset_s=1.0, duration_s=0.5)) - ANALYSIS_RATE // 2) <= 2


def test_offset_and_duration_read_only_that_part(tmp_path: Path) -> None:
    path = tmp_path / "two.wav"
    rate = 22050
    y = np.concatenate(
        [
            0.5 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate),
            0.5 * np.sin(2 * np.pi * 900 * np.arange(rate) / rate),
        ]
    )
    sf.write(str(path), y, rate)
    second = load(path, offset_s=1.0, duration_s=0.5)
    assert len(second) == rate // 2 and abs(_peak_hz(second) - 900) < 3


def test_long_files_are_analysed_in_bounded_windows(tmp_path: Path) -> None:
    path = _tone(tmp_path / "long.flac", rate=8000, seconds=20 * 60)  # 20 minutes
    windows = load_windows(path, window_s=5.0, max_windows=6)
    assert len(windows) == 6 and all(len(w) == 5 * ANALYSIS_RATE for w in windows)
    assert len(load_windows(_tone(tmp_path / "short.wav", seconds=3.0), window_s=5.0)) == 1


@pytest.mark.parametrize(
    ("content", "name", "match"),
    [
        (b"", "empty.mp3", "empty"),
        (
            b"ID3 this is really a text file" * 20,
            "text.mp3",
            "not an audio file|cannot decode|no audio",
        ),
        (b"\x00" * 4096, "zeros.wav", "not an audio file|cannot decode|no audio"),
    ],
    ids=["zero-length", "text-as-mp3", "zeros-as-wav"],
)
def test_non_audio_files_raise_bad_audio(
    tmp_path: Path, content: bytes, name: str, match: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(BadAudio, match=match):
        load(path)


def test_header_without_samples_is_bad_audio(tmp_path: Path) -> None:
    path = tmp_path / "silent.wav"
    sf.write(str(path), np.zeros((0, 1)), 22050)
    with pytest.raises(BadAudio, match="no audio"):
        probe(path)


def test_truncated_files_never_crash(tmp_path: Path) -> None:
    data = _tone(tmp_path / "t.ogg", format="OGG", subtype="VORBIS").read_bytes()
    cut = tmp_path / "cut.ogg"
    cut.write_bytes(data[: len(data) // 3])
    try:
        y = load(cut)
    except BadAudio:
        return
    assert len(y) < 2 * ANALYSIS_RATE  # what was there decoded, the rest is missing


def test_directories_are_not_files(tmp_path: Path) -> None:
    with pytest.raises(BadAudio, match="not a file"):
        load(tmp_path)


def test_real_clips_decode_with_their_labelled_duration(tmp_path: Path) -> None:
    tar_path = SHARED / "music_full_tracks.tar"
    if not tar_path.exists():
        pytest.skip(f"real tracks not available at {tar_path}")
    with tarfile.open(tar_path) as tar:
        rows = list(
            csv.DictReader(
                line.decode() for line in tar.extractfile("music_full_tracks/tracks.csv")
            )
        )  # type: ignore[union-attr]
        row = rows[0]
        target = tmp_path / "track.ogg"
        target.write_bytes(tar.extractfile(f"music_full_tracks/{row['file']}").read())  # type: ignore[union-attr]
    info = probe(target)
    assert info.sample_rate == 22050 and abs(info.duration_s - float(row["duration_s"])) < 1.0
    y = load(target, duration_s=10.0)
    assert len(y) == 10 * ANALYSIS_RATE and 0.01 < float(np.sqrt(np.mean(y**2))) < 1.0


def test_key_names() -> None:
    from moodtune.audio.analysis import key_name

    assert key_name(1, 0) == "C♯ minor" and key_name(0, 1) == "C major"
    assert key_name(11, 1) == "B major" and key_name(None, 1) is None and key_name(12, 0) is None
