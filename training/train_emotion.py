"""Train moodtune's facial-emotion CNN on FER2013 and export it to ONNX.

    .venv/bin/pip install torch==2.13.0 onnx onnxscript   # CPU wheel; never a CUDA torch here
    .venv/bin/python training/train_emotion.py --data=../shared/data/fer2013.npz --out=runs/emotion

Splits are FER2013's own: train = Training, model selection on val = PublicTest, test =
PrivateTest evaluated once with the selected checkpoint. Targets mix the FER2013 label with
the FERPlus vote distribution where aligned (``ferplus_mix``); the FER2013 label always stays
the argmax. Overrides: ``--key=value`` for any field of ``Config``.
"""

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from common import (  # training/ is on sys.path when run as a script
    parse_overrides,
    write_onnx_metadata,
)

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
#: FERPlus vote columns (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
#: unknown, NF) -> FER2013 order.
FERPLUS_TO_FER = [4, 5, 6, 1, 3, 2, 0]


@dataclass
class Config:
    data: str = "../shared/data/fer2013.npz"
    out: str = "runs/emotion"
    seed: int = 20261121
    channels: tuple[int, ...] = (
        24,
        48,
        96,
        192,
    )  # width per stage; GPU recipe: (64, 128, 256, 512)
    convs: tuple[int, ...] = (1, 2, 2, 2)  # 3x3 convs per stage
    dropout: float = 0.3
    image_size: int = 48  # FER2013 crops
    crop: int = 44  # random crop in training, centre crop when serving
    epochs: int = 35  # about 70 s each on 2 CPU cores; GPU recipe: 300
    batch_size: int = 128
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    ferplus_mix: float = 0.3  # share of the target given to the FERPlus vote distribution
    max_rotation_deg: float = 12.0
    max_scale: float = 0.12  # random zoom in [1 - s, 1 + s]
    threads: int = 2
    time_budget_min: float = 0.0  # stop early after this many minutes (0 = no limit)


class EmotionNet(nn.Module):
    """VGG-style stages of 3x3 conv + BN + ReLU, max-pooling between, global average pooling."""

    def __init__(self, channels: tuple[int, ...], convs: tuple[int, ...], dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for out_ch, n in zip(channels, convs, strict=True):
            for k in range(n):
                layers += [nn.Conv2d(in_ch if k == 0 else out_ch, out_ch, 3, padding=1, bias=False),
                           nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True)]  # fmt: skip
            layers.append(nn.MaxPool2d(2))
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(in_ch, 7)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load(config: Config) -> dict[str, np.ndarray]:
    data = np.load(config.data)
    assert tuple(data["class_names"]) == CLASSES, data["class_names"]
    return {k: data[k] for k in ("images", "labels", "split", "ferplus_votes")}


def soft_targets(labels: np.ndarray, votes: np.ndarray, config: Config) -> np.ndarray:
    onehot = np.eye(7, dtype=np.float32)[labels]
    fer_votes = votes[:, FERPLUS_TO_FER].astype(np.float32)
    totals = fer_votes.sum(axis=1, keepdims=True)
    aligned = (votes[:, 0] >= 0) & (totals[:, 0] > 0)
    dist = np.where(aligned[:, None], fer_votes / np.maximum(totals, 1), onehot)
    target = (1 - config.ferplus_mix) * onehot + config.ferplus_mix * dist
    return (1 - config.label_smoothing) * target + config.label_smoothing / 7


def augment(x: torch.Tensor, config: Config, gen: torch.Generator) -> torch.Tensor:
    """Random flip, rotation and zoom (one affine warp), then a random crop."""
    n = x.shape[0]
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(config.max_rotation_deg)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * config.max_scale
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, torch.zeros(n)], 1),
                         torch.stack([sin * flip, cos, torch.zeros(n)], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    margin = config.image_size - config.crop
    dx, dy = torch.randint(0, margin + 1, (2,), generator=gen).tolist()
    return x[:, :, dy : dy + config.crop, dx : dx + config.crop]


def centre(x: torch.Tensor, config: Config) -> torch.Tensor:
    m = (config.image_size - config.crop) // 2
    return x[:, :, m : m + config.crop, m : m + config.crop]


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, config: Config, batch: int = 512) -> torch.Tensor:
    """Mean logits over the image and its mirror (the same test-time flip the runtime uses)."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = centre(x[i : i + batch], config)
        out.append((model(xb) + model(torch.flip(xb, dims=[3]))) / 2)
    return torch.cat(out)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Temperature scaling (Guo et al. 2017): the T minimising validation NLL, by grid search."""
    grid = torch.linspace(0.5, 4.0, 351)
    nll = torch.stack([F.cross_entropy(logits / t, labels) for t in grid])
    return float(grid[int(torch.argmin(nll))])


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (confidence > lo) & (confidence <= hi)
        if inside.any():
            ece += inside.mean() * abs(
                (predicted[inside] == labels[inside]).mean() - confidence[inside].mean()
            )
    return float(ece)


def main() -> None:
    config = parse_overrides(Config(), sys.argv[1:])
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load(config)
    images = torch.from_numpy(data["images"]).float().div_(255).unsqueeze(1)
    train = data["split"] == "train"
    mean, std = float(images[train].mean()), float(images[train].std())
    images = (images - mean) / std
    targets = torch.from_numpy(
        soft_targets(data["labels"].astype(np.int64), data["ferplus_votes"], config)
    )
    labels = torch.from_numpy(data["labels"].astype(np.int64))
    idx = {
        s: torch.from_numpy(np.flatnonzero(data["split"] == s)) for s in ("train", "val", "test")
    }

    model = EmotionNet(config.channels, config.convs, config.dropout)
    steps_per_epoch = math.ceil(len(idx["train"]) / config.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.epochs * steps_per_epoch
    )
    gen = torch.Generator().manual_seed(config.seed)
    log = open(out / "train_log.jsonl", "w")
    best_acc, started = -1.0, time.time()
    for epoch in range(config.epochs):
        model.train()
        order = idx["train"][torch.randperm(len(idx["train"]), generator=gen)]
        total_loss = 0.0
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            logits = model(augment(images[batch], config, gen))
            loss = torch.sum(-targets[batch] * F.log_softmax(logits, dim=1), dim=1).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
        val_logits = logits_of(model, images[idx["val"]], config)
        val_acc = float((val_logits.argmax(1) == labels[idx["val"]]).float().mean())
        record = {"epoch": epoch + 1, "train_loss": total_loss / len(order), "val_acc": val_acc,
                  "minutes": (time.time() - started) / 60}  # fmt: skip
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(json.dumps(record), flush=True)
        if val_acc > best_acc:
            best_acc = val_acc
            torch.save(model.state_dict(), out / "best.pt")
        if config.time_budget_min and (time.time() - started) / 60 > config.time_budget_min:
            print(f"time budget reached after epoch {epoch + 1}", flush=True)
            break

    model.load_state_dict(torch.load(out / "best.pt"))
    val_logits = logits_of(model, images[idx["val"]], config)
    temperature = fit_temperature(val_logits, labels[idx["val"]])
    test_logits = logits_of(model, images[idx["test"]], config)
    test_probs = F.softmax(test_logits / temperature, dim=1).numpy()
    val_probs = F.softmax(val_logits / temperature, dim=1).numpy()
    summary = {
        "best_val_acc": best_acc,
        "temperature": temperature,
        "val_ece_before": expected_calibration_error(
            F.softmax(val_logits, 1).numpy(), labels[idx["val"]].numpy()
        ),
        "val_ece_after": expected_calibration_error(val_probs, labels[idx["val"]].numpy()),
        "test_acc": float((test_probs.argmax(1) == labels[idx["test"]].numpy()).mean()),
        "test_ece": expected_calibration_error(test_probs, labels[idx["test"]].numpy()),
        "params": sum(p.numel() for p in model.parameters()),
        "minutes": (time.time() - started) / 60,
        "mean": mean,
        "std": std,
        "config": dataclasses.asdict(config),
        "command": " ".join(["training/train_emotion.py", *sys.argv[1:]]),
    }
    export_onnx(model, config, summary, out / "emotion.onnx")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))


def export_onnx(model: nn.Module, config: Config, summary: dict[str, object], path: Path) -> None:
    """Logits for (N, 1, crop, crop) inputs; the runtime reads preprocessing from the metadata."""
    model.eval()
    dummy = torch.zeros(1, 1, config.crop, config.crop)
    torch.onnx.export(model, (dummy,), str(path), input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}}, opset_version=17,
                      dynamo=False)  # fmt: skip
    metadata = {
        "classes": ",".join(CLASSES),
        "image_size": str(config.image_size),
        "crop": str(config.crop),
        "mean": f"{summary['mean']:.6f}",
        "std": f"{summary['std']:.6f}",
        "temperature": f"{summary['temperature']:.4f}",
        "tta": "hflip",
        "training_command": str(summary["command"]),
        "seed": str(config.seed),
    }
    write_onnx_metadata(path, metadata)


if __name__ == "__main__":
    main()
