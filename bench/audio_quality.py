"""Audio mood and style quality on held-out music, against seed 000's DSP rule, in one run.

    .venv/bin/python bench/audio_quality.py [--data ../shared/data] [--work runs/audio_data]

Every clip goes through the product's own path (``moodtune.audio.analysis.analyse_file``: decode,
log-mel, shipped ONNX CNN, DSP). Splits are the training script's (``training/audio_data.py``):
4Q clips split by **artist**, game-music and GTZAN clips by **track**, and two whole sources
(``fof_sectoid``, ``etr``) never trained on. Nothing in the test split or the held-out sources
was used for training or model selection.

Estimators compared on the 4Q test artists:
- ``cnn``: the CNN's quadrant head; valence = P(Q1)+P(Q4), arousal = P(Q1)+P(Q2).
- ``cnn_energy``: the shipped ``energy`` feature (half CNN arousal, half loudness) for arousal.
- ``rule_seed000``: seed 000's rule on our DSP estimates: major -> positive valence, tempo above
  a threshold -> high arousal (threshold fitted on the training artists).
Reports quadrant accuracy (with a bootstrap 95% interval), valence/arousal sign accuracy and
AUC, and style top-1 accuracy. Prints one JSON object and writes bench/results/audio_quality.json.
"""

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "training"))

import audio_data  # noqa: E402

from moodtune.audio.analysis import TrackAnalysis, analyse_file  # noqa: E402
from moodtune.audio.embed import AudioModel  # noqa: E402
from moodtune.audio.features import rule_valence_arousal  # noqa: E402

RESULTS = REPO / "bench" / "results" / "audio_quality.json"
SEED = 20261121


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over runs of equal scores
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_interval(hits: np.ndarray, rounds: int = 2000) -> list[float]:
    rng = np.random.default_rng(SEED)
    means = [hits[rng.integers(0, len(hits), len(hits))].mean() for _ in range(rounds)]
    return [round(float(np.percentile(means, 2.5)), 3), round(float(np.percentile(means, 97.5)), 3)]


def quadrant_of(valence: np.ndarray, arousal: np.ndarray) -> np.ndarray:
    """Quadrant index (Q1..Q4 -> 0..3) from signs: Q1 +/+, Q2 -/+, Q3 -/-, Q4 +/-."""
    return np.where(arousal, np.where(valence, 0, 1), np.where(valence, 3, 2))


def scores(
    valence: np.ndarray, arousal: np.ndarray, quadrant: np.ndarray, labels: np.ndarray
) -> dict[str, object]:
    true_v, true_a = np.isin(labels, (0, 3)), np.isin(labels, (0, 1))
    hits = quadrant == labels
    return {
        "quadrant_accuracy": round(float(hits.mean()), 3),
        "quadrant_accuracy_95ci": bootstrap_interval(hits),
        "valence_sign_accuracy": round(float(((valence > 0.5) == true_v).mean()), 3),
        "arousal_sign_accuracy": round(float(((arousal > 0.5) == true_a).mean()), 3),
        "valence_auc": round(auc(valence, true_v), 3),
        "arousal_auc": round(auc(arousal, true_a), 3),
    }


def fit_tempo_threshold(analyses: list[TrackAnalysis], labels: np.ndarray) -> float:
    """The tempo that best separates high from low arousal on the training artists."""
    tempo = np.array([a.features["tempo"] for a in analyses], dtype=float)
    high = np.isin(labels, (0, 1))
    candidates = np.arange(60.0, 181.0, 2.0)
    return float(max(candidates, key=lambda t: float(((tempo > t) == high).mean())))


def style_top1(analyses: list[TrackAnalysis], clips: list[audio_data.Clip]) -> dict[str, object]:
    """Share of clips whose most probable style is one of their labels, and per source what
    the model called them (the package label of game music is weak, see the model card)."""
    top = [max(a.style, key=a.style.__getitem__) for a in analyses]
    hits = [t in c.styles for t, c in zip(top, clips, strict=True)]
    by_source: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        by_source.setdefault(clip.source, []).append(i)
    return {
        "top1_accuracy": round(float(np.mean(hits)), 3),
        "n": len(hits),
        "by_source": {
            source: {
                "labels": list(clips[rows[0]].styles) if source != "4q" else "AllMusic genres",
                "top1_accuracy": round(float(np.mean([hits[i] for i in rows])), 3),
                "n": len(rows),
                "predicted": dict(Counter(top[i] for i in rows).most_common(4)),
            }
            for source, rows in sorted(by_source.items())
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=REPO / "runs" / "audio_data")
    args = parser.parse_args()
    clips = audio_data.unpacked(args.data, args.work, SEED)
    model = AudioModel.from_path()

    def analyse(selected: list[audio_data.Clip]) -> list[TrackAnalysis]:
        return [analyse_file(args.work / "audio" / c.key, model) for c in selected]

    emotion = {s: [c for c in clips if c.quadrant >= 0 and c.split == s] for s in ("train", "test")}
    analysed = {s: analyse(v) for s, v in emotion.items()}
    labels = {s: np.array([c.quadrant for c in v]) for s, v in emotion.items()}
    test, y = analysed["test"], labels["test"]

    q = np.array([[a.quadrant[k] for k in audio_data.QUADRANTS] for a in test])
    cnn_v, cnn_a = q[:, 0] + q[:, 3], q[:, 0] + q[:, 1]
    energy = np.array([float(a.features["energy"]) for a in test])
    threshold = fit_tempo_threshold(analysed["train"], labels["train"])
    rule = np.array([
        rule_valence_arousal(int(a.features["mode"]), float(a.features["tempo"]),
                             tempo_threshold=threshold)
        for a in test
    ])  # fmt: skip
    majority = np.bincount(labels["train"]).argmax()
    estimators = {
        "cnn": scores(cnn_v, cnn_a, q.argmax(1), y),
        "cnn_energy_for_arousal": scores(cnn_v, energy, quadrant_of(cnn_v > 0.5, energy > 0.5), y),
        "rule_seed000": {
            **scores(rule[:, 0], rule[:, 1], quadrant_of(rule[:, 0] > 0.5, rule[:, 1] > 0.5), y),
            "tempo_threshold_bpm": threshold,
        },
        "chance_majority_quadrant": {"quadrant_accuracy": round(float((y == majority).mean()), 3)},
    }
    style_test = [c for c in clips if c.quadrant < 0 and c.split == "test"]
    style_heldout = [c for c in clips if c.split == "heldout"]
    counts = Counter(style for c in clips if c.split == "train" for style in c.styles)
    frequent = counts.most_common(1)[0][0]

    def frequent_baseline(selected: list[audio_data.Clip]) -> float:
        """Top-1 accuracy of always answering the most frequent training style."""
        return round(float(np.mean([frequent in c.styles for c in selected])), 3)

    doc = {
        "benchmark": "audio_quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": model.name,
        "split": {
            "4q_test_clips": len(y),
            "4q_test_artists": len({c.group for c in emotion["test"]}),
            "4q_train_clips": len(labels["train"]),
            "disjoint": "artists (4Q), tracks (game music, GTZAN), whole sources (held out)",
        },
        "emotion_4q_test": estimators,
        "style_test_tracks": style_top1(analyse(style_test), style_test),
        "style_heldout_sources": style_top1(analyse(style_heldout), style_heldout),
        "style_4q_test_allmusic_genres": style_top1(test, emotion["test"]),
        "style_baseline_most_frequent": {
            "style": frequent,
            "test_tracks": frequent_baseline(style_test),
            "heldout_sources": frequent_baseline(style_heldout),
            "4q_test": frequent_baseline(emotion["test"]),
        },
    }
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
