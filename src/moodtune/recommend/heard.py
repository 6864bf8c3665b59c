"""Where listeners hear a track on the valence/arousal circumplex ("heard mood").

Every track gets a probability per Russell quadrant of how listeners hear it, and through
those a point with an uncertainty on the same circumplex the emotions use. Each quadrant is
a Gaussian component whose mean and covariance are those of the human labels of its tracks
(listeners' Last.fm tags, Deezer Mood Detection Dataset, ``train`` split), so a track's heard
mood is the mixture ``Σ_q p_q N(m_q, S_q)``:

* catalog tracks: ``p`` from a multinomial logistic regression on their Spotify-style features,
  duration and genres, fitted on the human labels (``training/train_heard.py``);
* analysed library tracks: ``p`` from the audio CNN's quadrant head (trained on the human
  labelled 4Q clips), temperature-calibrated on clips of artists it never trained on.

The fitted numbers ship in ``models/heard.npz``; its sha256 is checked at load against
``models/heard.json``. Plain numpy: the model is a 23 x 4 matrix.
"""

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from moodtune.checked_onnx import read_checked
from moodtune.errors import InvalidInput
from moodtune.recommend.genres import GenreLinks
from moodtune.recommend.vocabulary import FEATURES

__all__ = [
    "DEFAULT_HEARD_MODEL",
    "QUADRANTS",
    "QUADRANT_WORDS",
    "HeardMood",
    "HeardMoodModel",
    "design_matrix",
    "shipped_heard_model",
]

DEFAULT_HEARD_MODEL = Path(__file__).resolve().parents[1] / "models" / "heard.json"
QUADRANTS: tuple[str, ...] = ("Q1", "Q2", "Q3", "Q4")
#: How a listener would say each quadrant (Russell 1980's words near the quadrant centres).
QUADRANT_WORDS: Mapping[str, str] = {
    "Q1": "happy and lively",
    "Q2": "tense and angry",
    "Q3": "sad and subdued",
    "Q4": "calm and warm",
}
#: Inputs of the catalog model besides genres, in order: DESIGN.md section 5 features scaled
#: to 0..1 as the ranking matrix scales them, and log duration.
FEATURE_INPUTS: tuple[str, ...] = (*(f for f in FEATURES if f != "key"), "log_duration_s")
#: Duration assumed for a track without one (the bundled catalog's median is 3.7 min).
_DEFAULT_DURATION_S = 220.0


def design_matrix(
    columns: Mapping[str, np.ndarray],
    genres: Sequence[Sequence[str]] | GenreLinks,
    *,
    vocabulary: Sequence[str],
) -> np.ndarray:
    """Raw inputs of the catalog model, one row per track, before standardisation.

    Parameters
    ----------
    columns : Mapping[str, np.ndarray [shape=(n,)]]
        Every name of ``FEATURE_INPUTS`` but ``log_duration_s``, scaled 0..1 without gaps (the
        ranking matrix's ``features``), plus ``duration_s`` (NaN where unknown).
    genres : Sequence[Sequence[str]] or GenreLinks
        Genre names per track (lower case), or the same as links; many tracks have none.
    vocabulary : Sequence[str]
        Genres with a column of their own; the last column flags "none of these known".

    Returns
    -------
    x : np.ndarray [shape=(n, len(FEATURE_INPUTS) + len(vocabulary) + 1)], float64
    """
    missing = [c for c in FEATURE_INPUTS[:-1] if c not in columns] + (
        [] if "duration_s" in columns else ["duration_s"]
    )
    if missing:
        raise InvalidInput(f"heard-mood inputs missing: {missing}")
    links = genres if isinstance(genres, GenreLinks) else GenreLinks.from_lists(genres)
    n = links.n
    duration = np.asarray(columns["duration_s"], dtype=np.float64)
    duration = np.where(np.isfinite(duration) & (duration > 0), duration, _DEFAULT_DURATION_S)
    numeric = [np.asarray(columns[c], dtype=np.float64) for c in FEATURE_INPUTS[:-1]]
    numeric.append(np.log(np.clip(duration, 10.0, 3600.0)))
    onehot = links.onehot(vocabulary)
    return (
        np.column_stack([*numeric, onehot]) if n else np.zeros((0, len(numeric) + onehot.shape[1]))
    )


@dataclass(frozen=True)
class HeardMood:
    """Heard mood of ``n`` tracks: quadrant probabilities and the mixture's point and spread."""

    probs: np.ndarray  # float32 (n, 4) in QUADRANTS order, rows sum to 1
    point: np.ndarray  # float32 (n, 2) mixture mean (valence, arousal), circumplex units
    spread: np.ndarray  # float32 (n,) sqrt(trace(mixture covariance)): the uncertainty

    def __len__(self) -> int:
        return len(self.probs)


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


@dataclass(frozen=True)
class HeardMoodModel:
    """The fitted heard-mood model; build it with :meth:`from_path` (checksum-verified)."""

    vocabulary: tuple[str, ...]  # genres with their own input column
    mean_: np.ndarray  # (d,) input standardisation
    scale_: np.ndarray  # (d,)
    coef_: np.ndarray  # (d + 1, 4): last row is the intercept
    means_: np.ndarray  # (4, 2) component means, circumplex units
    covs_: np.ndarray  # (4, 2, 2) component covariances
    audio_temperature: float  # softens (>1) or sharpens (<1) the audio CNN's quadrant probs
    kernel_width: float  # circumplex distance that still counts as "near" the target

    @classmethod
    def from_path(cls, sidecar: Path = DEFAULT_HEARD_MODEL) -> "HeardMoodModel":
        """Load the shipped model after checking its sha256 against the sidecar JSON."""
        _, data, _ = read_checked(sidecar, what="heard-mood")
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        return cls(
            vocabulary=tuple(str(g) for g in arrays["vocabulary"]),
            mean_=arrays["mean"],
            scale_=arrays["scale"],
            coef_=arrays["coef"],
            means_=arrays["component_means"],
            covs_=arrays["component_covs"],
            audio_temperature=float(arrays["audio_temperature"]),
            kernel_width=float(arrays["kernel_width"]),
        )

    def quadrant_probs(self, x: np.ndarray) -> np.ndarray:
        """(n, 4) probabilities from raw :func:`design_matrix` rows."""
        if x.ndim != 2 or x.shape[1] != len(self.mean_):
            raise InvalidInput(f"expected (n, {len(self.mean_)}) inputs, got shape={x.shape}")
        z = (x - self.mean_) / self.scale_
        return _softmax(z @ self.coef_[:-1] + self.coef_[-1])

    def place_catalog(
        self, columns: Mapping[str, np.ndarray], genres: Sequence[Sequence[str]] | GenreLinks
    ) -> HeardMood:
        """Heard mood of catalog tracks from their features, duration and genres."""
        x = design_matrix(columns, genres, vocabulary=self.vocabulary)
        return self.mixture(self.quadrant_probs(x))

    def place_audio(self, quadrant_probs: np.ndarray) -> HeardMood:
        """Heard mood of analysed tracks from the audio CNN's (n, 4) quadrant probabilities,
        calibrated with the temperature fitted on unseen artists: ``p ∝ p_cnn ** (1 / T)``."""
        probs = np.asarray(quadrant_probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != 4 or np.any(probs < 0):
            raise InvalidInput(f"quadrant probabilities must be (n, 4) >= 0, got {probs.shape}")
        logits = np.log(np.clip(probs, 1e-6, None)) / self.audio_temperature
        return self.mixture(_softmax(logits))

    def mixture(self, probs: np.ndarray) -> HeardMood:
        """Point and spread of the quadrant mixture with weights ``probs``.

        ``point = Σ_q p_q m_q``; ``spread² = Σ_q p_q (tr S_q + |m_q − point|²)``.
        """
        probs = np.asarray(probs, dtype=np.float64)
        point = probs @ self.means_
        trace = np.trace(self.covs_, axis1=1, axis2=2)  # (4,)
        offsets = ((self.means_[None, :, :] - point[:, None, :]) ** 2).sum(axis=2)  # (n, 4)
        spread = np.sqrt((probs * (trace[None, :] + offsets)).sum(axis=1))
        return HeardMood(
            probs=probs.astype(np.float32),
            point=point.astype(np.float32),
            spread=spread.astype(np.float32),
        )

    def closeness(self, probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """How near listeners hear each track to each target point, 0..1.

        Parameters
        ----------
        probs : np.ndarray [shape=(n, 4)]
            Quadrant probabilities (``HeardMood.probs``).
        targets : np.ndarray [shape=(T, 2)]
            (valence, arousal) targets, e.g. one per journey step.

        Returns
        -------
        closeness : np.ndarray [shape=(T, n)], float32
            ``Σ_q p_q k_q(t) / max_q k_q(t)`` with the Gaussian kernel
            ``k_q(t) = exp(-½ (t − m_q)ᵀ (S_q + w² I)⁻¹ (t − m_q))`` and ``w`` the kernel
            width: the expected nearness of the track's heard mood to ``t``, 1 when it surely
            sits in the component nearest to ``t``.
        """
        targets = np.atleast_2d(np.asarray(targets, dtype=np.float64))
        if targets.shape[1] != 2:
            raise InvalidInput(f"targets must be (T, 2), got shape={targets.shape}")
        kernels = self.normalised_kernels(targets)  # (T, 4)
        return np.asarray(kernels @ np.asarray(probs, dtype=np.float32).T, dtype=np.float32)

    def normalised_kernels(self, targets: np.ndarray) -> np.ndarray:
        """(T, 4) float32 kernels of each component at each target, divided by the largest
        of the target's: the weights of a track's quadrant probabilities in its closeness."""
        kernels = self.component_kernels(np.asarray(targets, dtype=np.float64))
        kernels /= kernels.max(axis=1, keepdims=True)
        return kernels

    def component_kernels(self, targets: np.ndarray) -> np.ndarray:
        """(T, 4) unnormalised Gaussian kernels of each component at each target."""
        diff = targets[:, None, :] - self.means_[None, :, :]  # (T, 4, 2)
        mahalanobis = (np.matmul(diff[:, :, None, :], self._kernel_inverses)[:, :, 0] * diff).sum(2)
        return np.asarray(np.exp(-0.5 * mahalanobis), dtype=np.float32)

    @cached_property
    def _kernel_inverses(self) -> np.ndarray:
        """(4, 2, 2) inverses of the widened covariances: fixed for the model, and inverting
        them per request was half of the kernels' 16 us (of a scorer's 26 us set-up)."""
        return np.linalg.inv(self.covs_ + (self.kernel_width**2) * np.eye(2)[None])


@cache
def shipped_heard_model() -> HeardMoodModel:
    """The shipped model, loaded and checked once per process."""
    return HeardMoodModel.from_path()
