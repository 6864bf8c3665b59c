"""Fit moodtune's heard-mood model on human mood labels and write it into the package.

    .venv/bin/python training/train_heard.py            # numpy only, about a minute on 2 cores

Data (../shared/data/README.md sections 4, 5, 8): the bundled catalog's Spotify-style features
and genres; valence/arousal from listeners' Last.fm tags for 2,341 of its tracks (Deezer Mood
Detection Dataset) with the source's own ``train`` / ``validation`` split (artist-disjoint:
1 of 291 validation artists appears in train); the 4Q clips for calibrating the audio CNN.

1. Labels -> circumplex: ``(valence, arousal) / label_scale`` clipped to -1..1. The source is
   standardised around 0 (its quadrants are the signs), so dividing by 2 puts about 95 % of
   tracks inside Russell's unit square and keeps every track in its quadrant.
2. One Gaussian component per quadrant: the mean and covariance of the train labels in it.
3. Catalog tracks: multinomial logistic regression (L2, Newton's method) from the ranking
   matrix's 0..1 features, log duration and genre indicators to the quadrant; the L2 strength is
   chosen by validation log loss; fitted on ``train`` only (the validation tracks stay unseen
   for ``bench/mood_fidelity.py``).
4. Library tracks: the audio CNN's quadrant probabilities are temperature-scaled, with the
   temperature fitted on the 4Q ``val`` artists (never trained on) and checked on ``test``.

Writes ``<out>/heard.npz`` and ``<out>/heard.json`` (sha256, metrics, command, data hashes).
Overrides: ``--key=value`` for any field of ``Config``.
"""

import csv
import gzip
import hashlib
import io
import json
import sys
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audio_data  # noqa: E402
from common import parse_overrides  # noqa: E402

from moodtune.audio.analysis import analyse_file  # noqa: E402
from moodtune.audio.embed import AudioModel  # noqa: E402
from moodtune.catalog.importers import map_columns, parse_row  # noqa: E402
from moodtune.recommend.heard import FEATURE_INPUTS, QUADRANTS, design_matrix  # noqa: E402
from moodtune.recommend.rank import FEATURES, placeable_features  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CATALOG = REPO / "src" / "moodtune" / "data" / "spotify_tracks.csv.gz"


@dataclass
class Config:
    data: str = "../shared/data"
    work: str = "runs/audio_data"  # unpacked 4Q clips (shared with train_audio.py)
    out: str = "src/moodtune/models"
    seed: int = 20261121  # the audio model's split seed: its val/test artists
    label_scale: float = 2.0  # source units per circumplex unit
    l2_grid: str = "0.001,0.003,0.01,0.03,0.1,0.3,1,3,10"  # C = 1 / L2 strength, as scikit-learn's
    min_genre_tracks: int = 10  # a genre gets its own input when this many train tracks have it
    kernel_width: float = 0.2  # circumplex distance that still counts as near (ranking only)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_catalog() -> tuple[list[str], np.ndarray, np.ndarray, list[list[str]]]:
    """Spotify ids, 0..1 features (the ranking matrix's), duration (s) and genres of every
    placeable catalog track, parsed by the importer the product uses."""
    with gzip.open(CATALOG, "rt", encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        columns = map_columns(next(reader))
        rows = []
        for fields in reader:
            try:  # rows the importer rejects never reach the product either
                rows.append(parse_row(fields, columns, "catalog"))
            except ValueError:
                continue
    features = {f: [r.values[f] for r in rows] for f in FEATURES}
    keep, _, normed = placeable_features(features, len(rows))
    kept = [rows[i] for i in keep.tolist()]
    duration = np.array([r.values["duration_ms"] or np.nan for r in kept], float) / 1000.0
    return [r.spotify_id for r in kept], normed, duration, [r.genres for r in kept]


def read_labels(path: Path) -> dict[str, tuple[str, float, float, int]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["spotify_id"]: (
                row["source_split"],
                float(row["valence"]),
                float(row["arousal"]),
                QUADRANTS.index(row["quadrant"]),
            )
            for row in csv.DictReader(handle)
        }


def save_npz(**arrays: np.ndarray) -> io.BytesIO:
    """An ``np.load``-able .npz with fixed entry dates, so the same fit gives the same bytes
    (and the same checksum); ``np.savez`` stamps the current time into the zip."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            entry = io.BytesIO()
            np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)
            archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)),
                             entry.getvalue())  # fmt: skip
    return buffer


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit_multinomial(x: np.ndarray, y: np.ndarray, c: float, iterations: int = 50) -> np.ndarray:
    """L2 multinomial logistic regression by Newton's method: minimises
    ``Σ_i CE_i + ||W||² / (2c)`` (no penalty on the intercept), as scikit-learn's ``C = c``.
    Returns (d + 1, k) with the intercept in the last row."""
    n, d = x.shape
    k = int(y.max()) + 1
    xb = np.hstack([x, np.ones((n, 1))])
    onehot = np.eye(k)[y]
    w = np.zeros((d + 1, k))
    penalty = np.full(d + 1, 1.0 / c)
    penalty[-1] = 1e-8  # keeps the Hessian invertible without shrinking the intercept
    for _ in range(iterations):
        p = softmax(xb @ w)
        grad = xb.T @ (p - onehot) + penalty[:, None] * w  # (d+1, k)
        # Hessian blocks H[a,b] = X^T diag(p_a (δ_ab - p_b)) X, flattened class-major.
        hess = np.zeros((k * (d + 1), k * (d + 1)))
        for a in range(k):
            for b in range(k):
                weight = p[:, a] * ((a == b) - p[:, b])
                block = (xb * weight[:, None]).T @ xb
                if a == b:
                    block += np.diag(penalty)
                hess[a * (d + 1) : (a + 1) * (d + 1), b * (d + 1) : (b + 1) * (d + 1)] = block
        step = np.linalg.lstsq(hess, grad.T.ravel(), rcond=None)[0].reshape(k, d + 1).T
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))


def calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error of the top class (equal-width confidence bins)."""
    confidence, hit = p.max(axis=1), p.argmax(axis=1) == y
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges) - 1, 0, bins - 1)
    return float(
        sum(
            abs(confidence[which == b].mean() - hit[which == b].mean()) * (which == b).mean()
            for b in range(bins)
            if (which == b).any()
        )
    )


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return round(float(np.corrcoef(a, b)[0, 1]), 3)


def classification_report(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    return {
        "log_loss": round(log_loss(p, y), 4),
        "accuracy": round(float((p.argmax(axis=1) == y).mean()), 4),
        "ece": round(calibration_error(p, y), 4),
        "n": len(y),
    }


def calibrate_audio(config: Config) -> tuple[float, dict[str, object]]:
    """Temperature for the audio CNN's quadrant probabilities, fitted on unseen 4Q artists."""
    data, work = Path(config.data), Path(config.work)
    clips = audio_data.unpacked(data, work, config.seed)
    model = AudioModel.from_path()
    probs, labels = {}, {}
    for split in ("val", "test"):
        chosen = [c for c in clips if c.quadrant >= 0 and c.split == split]
        probs[split] = np.array(
            [
                [analyse_file(work / "audio" / c.key, model).quadrant[q] for q in QUADRANTS]
                for c in chosen
            ]
        )
        labels[split] = np.array([c.quadrant for c in chosen])

    def scaled(p: np.ndarray, t: float) -> np.ndarray:
        return softmax(np.log(np.clip(p, 1e-6, None)) / t)

    grid = np.round(np.arange(0.3, 4.01, 0.05), 2)
    temperature = float(min(grid, key=lambda t: log_loss(scaled(probs["val"], t), labels["val"])))
    report = {
        "temperature": temperature,
        "fitted_on": "4Q val artists (the audio model selected its checkpoint there, never "
        "trained on them)",
        "test_raw": classification_report(probs["test"], labels["test"]),
        "test_calibrated": classification_report(
            scaled(probs["test"], temperature), labels["test"]
        ),
    }
    return temperature, report


def main() -> None:
    config = parse_overrides(Config(), sys.argv[1:])
    started = time.perf_counter()
    labels_path = Path(config.data) / "music_mood_tags_dev.csv"
    labels = read_labels(labels_path)
    ids, normed, duration, genres = read_catalog()
    row_of = {sid: i for i, sid in enumerate(ids)}
    split_rows = {
        s: [row_of[sid] for sid, lab in labels.items() if lab[0] == s and sid in row_of]
        for s in ("train", "validation")
    }
    y = {s: np.array([labels[ids[r]][3] for r in rows]) for s, rows in split_rows.items()}
    va = {
        s: np.clip(np.array([labels[ids[r]][1:3] for r in rows]) / config.label_scale, -1.0, 1.0)
        for s, rows in split_rows.items()
    }

    counts: dict[str, int] = {}
    for r in split_rows["train"]:
        for g in genres[r]:
            counts[g] = counts.get(g, 0) + 1
    vocabulary = sorted(g for g, n in counts.items() if n >= config.min_genre_tracks)
    columns = {f: normed[:, i] for i, f in enumerate(FEATURES)}
    x_all = design_matrix({**columns, "duration_s": duration}, genres, vocabulary=vocabulary)
    x = {s: x_all[rows] for s, rows in split_rows.items()}
    mean = x["train"].mean(axis=0)
    scale = x["train"].std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = {s: (v - mean) / scale for s, v in x.items()}

    means = np.array([va["train"][y["train"] == q].mean(axis=0) for q in range(4)])
    covs = np.array([np.cov(va["train"][y["train"] == q].T) for q in range(4)])

    grid = [float(c) for c in config.l2_grid.split(",")]
    fits = {c: fit_multinomial(z["train"], y["train"], c) for c in grid}

    def predict(w: np.ndarray, split: str) -> np.ndarray:
        return softmax(z[split] @ w[:-1] + w[-1])

    val_loss = {c: log_loss(predict(w, "validation"), y["validation"]) for c, w in fits.items()}
    chosen = min(val_loss, key=val_loss.__getitem__)
    coef = fits[chosen]
    prior = np.bincount(y["train"], minlength=4) / len(y["train"])
    p_val = predict(coef, "validation")
    point = p_val @ means
    spotify = {
        "valence_r": pearson(
            normed[split_rows["validation"], FEATURES.index("valence")], va["validation"][:, 0]
        ),
        "energy_vs_arousal_r": pearson(
            normed[split_rows["validation"], FEATURES.index("energy")], va["validation"][:, 1]
        ),
    }
    temperature, audio_report = calibrate_audio(config)

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    buffer = save_npz(
        vocabulary=np.array(vocabulary, dtype=str),
        mean=mean,
        scale=scale,
        coef=coef,
        component_means=means,
        component_covs=covs,
        audio_temperature=np.float64(temperature),
        kernel_width=np.float64(config.kernel_width),
        label_scale=np.float64(config.label_scale),
    )
    weights = out / "heard.npz"
    weights.write_bytes(buffer.getvalue())
    metrics = {
        "catalog_model": {
            "chosen_C": chosen,
            "validation_log_loss_by_C": {str(c): round(v, 4) for c, v in val_loss.items()},
            "train": classification_report(predict(coef, "train"), y["train"]),
            "validation": classification_report(p_val, y["validation"]),
            "validation_prior_only": classification_report(
                np.tile(prior, (len(y["validation"]), 1)), y["validation"]
            ),
            "validation_point_r": {
                "valence": pearson(point[:, 0], va["validation"][:, 0]),
                "arousal": pearson(point[:, 1], va["validation"][:, 1]),
            },
            "validation_spotify_r": spotify,
            "inputs": [*design_inputs(vocabulary)],
        },
        "components": {
            q: {
                "mean": [round(float(v), 3) for v in means[i]],
                "sd": [round(float(v), 3) for v in np.sqrt(np.diag(covs[i]))],
                "train_tracks": int((y["train"] == i).sum()),
            }
            for i, q in enumerate(QUADRANTS)
        },
        "audio_calibration": audio_report,
        "splits": {s: len(rows) for s, rows in split_rows.items()},
    }
    sidecar = {
        "file": weights.name,
        "sha256": sha256(weights),
        "command": "python training/train_heard.py " + " ".join(sys.argv[1:]),
        "config": asdict(config),
        "data": {
            "music_mood_tags_dev.csv": sha256(labels_path),
            "spotify_tracks.csv.gz": sha256(CATALOG),
        },
        "metrics": metrics,
    }
    (out / "heard.json").write_text(json.dumps(sidecar, indent=2) + "\n")
    print(json.dumps(metrics, indent=2))
    print(f"wrote {weights} in {time.perf_counter() - started:.0f} s")


def design_inputs(vocabulary: list[str]) -> list[str]:
    return [*FEATURE_INPUTS, *(f"genre:{g}" for g in vocabulary), "genre:none_known"]


if __name__ == "__main__":
    main()
