"""Classification metrics for emotion models, in the shapes DESIGN.md's `moodtune eval` prints."""

from collections.abc import Sequence
from typing import Any

import numpy as np

from moodtune.errors import InvalidInput

__all__ = ["SEED_VIEWS", "classification_report", "probability_report", "restricted_view"]

#: The seeds' 4-class comparisons: seed 000 and seed 004.
SEED_VIEWS: dict[str, tuple[str, ...]] = {
    "seed000_happy_sad_neutral_angry": ("happy", "sad", "neutral", "angry"),
    "seed004_happy_sad_surprise_neutral": ("happy", "sad", "surprise", "neutral"),
}


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    ``confusion[i][j]`` counts samples of true class i predicted as j.
    """
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape:
        raise InvalidInput(f"y_true and y_pred differ in shape: {y_true.shape} vs {y_pred.shape}")
    k = len(classes)
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    f1s = []
    for i, name in enumerate(classes):
        tp = int(confusion[i, i])
        predicted, actual = int(confusion[:, i].sum()), int(confusion[i].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": actual,
        }
        f1s.append(f1)
    n = int(len(y_true))
    return {
        "accuracy": round(float((y_true == y_pred).mean()) if n else 0.0, 4),
        "macro_f1": round(float(np.mean(f1s)), 4),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "n": n,
    }


def restricted_view(
    y_true: np.ndarray, probs: np.ndarray, classes: Sequence[str], keep: Sequence[str]
) -> dict[str, Any]:
    """Accuracy on samples of the ``keep`` classes when the model may only answer one of them."""
    idx = [list(classes).index(c) for c in keep]
    mask = np.isin(y_true, idx)
    predicted = np.asarray(idx)[np.argmax(probs[mask][:, idx], axis=1)]
    return {
        "classes": list(keep),
        "accuracy": round(float((predicted == y_true[mask]).mean()), 4),
        "n": int(mask.sum()),
    }


def probability_report(
    y_true: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    *,
    ferplus: np.ndarray | None = None,
) -> dict[str, Any]:
    """:func:`classification_report` of the argmax, the seeds' 4-class views and, given
    FERPlus majority labels (-1/-2 and labels >= 7 are skipped), the accuracy against them."""
    report = classification_report(y_true, probs.argmax(axis=1), classes)
    report["views"] = {
        name: restricted_view(y_true, probs, classes, keep) for name, keep in SEED_VIEWS.items()
    }
    if ferplus is not None:
        known = (ferplus >= 0) & (ferplus < len(classes))
        report["ferplus_majority_accuracy"] = round(
            float((probs.argmax(axis=1)[known] == ferplus[known]).mean()), 4
        )
        report["ferplus_n"] = int(known.sum())
    return report
