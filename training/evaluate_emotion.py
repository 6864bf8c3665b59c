"""Every number of the emotion model card, from the shipped model, in one run.

    .venv/bin/python training/evaluate_emotion.py --npz=../shared/data/fer2013.npz \\
        --faces=../shared/data/faces_tw_dev.tar --out=runs/emotion

Writes ``<out>/evaluation.json`` and the confusion matrix ``docs/emotion_confusion.png``:
FER2013 val and test (PrivateTest, reported once for the final model) with the seeds' 4-class
views and FERPlus majority accuracy, then end to end on the real whole-head photos with YuNet
and with Haar (the photos are read from the tar in memory and never copied).
"""

import argparse
import json
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from moodtune.vision.evaluation_runs import evaluate_folder, evaluate_npz

REPO = Path(__file__).resolve().parents[1]


def confusion_png(confusion: list[list[int]], classes: list[str], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(confusion, dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=120)
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true (FER2013 label)")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            colour = "white" if rates[i, j] > 0.55 else "black"
            ax.text(
                j,
                i,
                f"{rates[i, j]:.2f}\n({int(counts[i, j])})",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
            )
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--npz", type=Path, required=True)
    parser.add_argument("--faces", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    results = {
        "val": evaluate_npz(args.npz, split="val"),
        "test": evaluate_npz(args.npz, split="test"),
    }
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(args.faces) as tar:
        for member in tar.getmembers():  # regular files only (extractall's filter needs 3.11.4)
            if member.isfile() and ".." not in Path(member.name).parts:
                target = Path(tmp) / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(tar.extractfile(member).read())  # type: ignore[union-attr]
        folder = Path(tmp) / "faces_tw_dev"
        (folder / "labels.csv").unlink()
        results["faces_tw_dev_yunet"] = evaluate_folder(folder, detector="yunet")
        results["faces_tw_dev_haar"] = evaluate_folder(folder, detector="haar")
    classes = list(results["test"]["per_class"])
    confusion_png(results["test"]["confusion"], classes, REPO / "docs" / "emotion_confusion.png",
                  f"FER2013 PrivateTest, accuracy {results['test']['accuracy']:.1%}")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "evaluation.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        json.dumps(
            {k: {m: v[m] for m in ("accuracy", "macro_f1", "n")} for k, v in results.items()},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
