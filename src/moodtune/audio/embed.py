"""The audio CNN: track embedding, Russell quadrant and style from log-mel patches (ONNX Runtime).

The network is trained by ``training/train_audio.py``. Its penultimate layer is the track
embedding (seed 003's "preprocessing network"); a track's outputs are the mean over its
patches. Normalisation and label names are read from the ONNX metadata, so training and
serving cannot drift apart; the file's sha256 is checked against its sidecar JSON at load.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from moodtune.checked_onnx import load_checked
from moodtune.errors import InvalidInput

__all__ = ["DEFAULT_AUDIO_MODEL", "AudioModel", "ModelOutput", "patches"]

DEFAULT_AUDIO_MODEL = Path(__file__).resolve().parents[1] / "models" / "audio.json"
#: Patches scored per ONNX call: large enough to amortise the call, small enough for the cache.
_BATCH = 32


def patches(mel: np.ndarray, *, frames: int, hop: int) -> np.ndarray:
    """(n, n_mels, frames) patches of a spectrogram every ``hop`` frames.

    A spectrogram shorter than one patch is edge-padded to one patch; the tail after the last
    full hop is dropped (at most ``hop - 1`` frames).
    """
    if mel.ndim != 2 or mel.shape[1] == 0:
        raise InvalidInput(f"mel must be (n_mels, frames) with frames > 0, got {mel.shape}")
    if mel.shape[1] < frames:
        mel = np.pad(mel, ((0, 0), (0, frames - mel.shape[1])), mode="edge")
    starts = range(0, mel.shape[1] - frames + 1, hop)
    return np.stack([mel[:, s : s + frames] for s in starts])


@dataclass(frozen=True)
class ModelOutput:
    """Track-level outputs: the mean over every patch of every window."""

    embedding: np.ndarray  # float32 (dim,)
    quadrant: dict[str, float]  # Q1..Q4 probabilities, sum 1
    style: dict[str, float]  # independent probabilities per style (multi-label)
    patches: int

    @property
    def valence(self) -> float:
        """P(positive valence) = P(Q1) + P(Q4), in 0..1."""
        return self.quadrant["Q1"] + self.quadrant["Q4"]

    @property
    def arousal(self) -> float:
        """P(high arousal) = P(Q1) + P(Q2), in 0..1."""
        return self.quadrant["Q1"] + self.quadrant["Q2"]


class AudioModel:
    """The shipped audio CNN in ONNX Runtime; one session, safe to call from several threads."""

    def __init__(self, session: Any, metadata: dict[str, str], sha256: str) -> None:
        self.session = session
        self.quadrants = tuple(metadata["quadrants"].split(","))
        self.styles = tuple(metadata["styles"].split(","))
        self.n_mels = int(metadata["n_mels"])
        self.frames = int(metadata["patch_frames"])
        self.mean = float(metadata["mean"])
        self.std = float(metadata["std"])
        self.sha256 = sha256
        self.embedding_dim = int(session.get_outputs()[0].shape[1])

    @property
    def name(self) -> str:
        """Estimator name stored with every value the model produced."""
        return f"cnn-audio-{self.sha256[:8]}"

    @classmethod
    def from_path(cls, sidecar: Path = DEFAULT_AUDIO_MODEL, *, threads: int = 1) -> "AudioModel":
        """Load a model described by its sidecar JSON, refusing a file whose checksum differs."""
        model = load_checked(sidecar, what="audio", threads=threads)
        return cls(model.session, model.metadata, model.sha256)

    def run(self, mels: Sequence[np.ndarray], *, hop: int | None = None) -> ModelOutput:
        """Score log-mel spectrograms (one per analysed window) as one track.

        Parameters
        ----------
        mels : sequence of np.ndarray [shape=(n_mels, frames)], dB as ``audio.mel.log_mel``
        hop : patch hop in frames; default one patch length (no overlap)
        """
        if not mels:
            raise InvalidInput("need at least one spectrogram")
        for mel in mels:
            if mel.ndim != 2 or mel.shape[0] != self.n_mels:
                raise InvalidInput(f"mel must have {self.n_mels} bands, got shape {mel.shape}")
        step = hop or self.frames
        x = np.concatenate([patches(m, frames=self.frames, hop=step) for m in mels])
        x = ((x - self.mean) / self.std).astype(np.float32)[:, None]
        outputs = [
            self.session.run(None, {"input": x[i : i + _BATCH]}) for i in range(0, len(x), _BATCH)
        ]
        embedding, quadrant, style = (np.concatenate(parts) for parts in zip(*outputs, strict=True))
        q = quadrant.mean(axis=0)
        s = style.mean(axis=0)
        return ModelOutput(
            embedding=np.asarray(embedding.mean(axis=0), dtype=np.float32),
            quadrant={name: float(p) for name, p in zip(self.quadrants, q, strict=True)},
            style={name: float(p) for name, p in zip(self.styles, s, strict=True)},
            patches=len(x),
        )
