"""Train moodtune's facial-emotion CNN on FER2013 + CK+ and export it to ONNX.

    .venv/bin/pip install torch==2.13.0 onnx onnxscript   # CPU wheel; never a CUDA torch here
    .venv/bin/python training/train_emotion.py --out=runs/emotion

Splits: FER2013's own (train = Training, model selection on PublicTest, test = PrivateTest
evaluated once with the selected checkpoint); CK+ split by subject (``ckplus_val_share`` of
the subjects, chosen by a seeded shuffle, for validation, never trained on). Every image is
aligned with the runtime's ``moodtune.vision.align`` from YuNet landmarks and augmented for
the gap to real photos (``emotion_data.DomainAugment``). Targets mix the FER2013 label with the
FERPlus vote distribution where aligned; the loss weighs classes by inverse frequency to the
power ``class_balance``.

The run checkpoints every epoch (``<out>/last.pt``) and resumes from there when started again
with the same config, so it can run in the background over hours. On CPUs with AMX/AVX-512
bf16 it trains in bfloat16 autocast (about 3x faster here); with CUDA it uses the GPU.
Overrides: ``--key=value`` for any field of ``Config``. ``--teacher=<model.onnx>`` mixes a
trained model's calibrated predictions into the targets (distillation; of an ensemble when the
model is a ``fit_emotion_head.py`` merge of several bodies). ``--init=<run>/best.pt`` starts
from a trained body's weights (fine-tuning, e.g. a few epochs at a lower ``--lr`` with other
data weights).
"""

import os

# YuNet (landmarks of every crop) runs OpenMP threads that fight over 48 px images: 1 thread is
# 10x faster here. torch gets its own thread count from the config below.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses
import hashlib
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
from emotion_data import (
    CLASSES,
    DomainAugment,
    cached_landmarks,
    file_sha256,
    load_ckplus,
)

from moodtune.vision.align import align_crops, alignment_signature
from moodtune.vision.emotion import CropSpec, OnnxEmotionClassifier

#: FERPlus vote columns (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt,
#: unknown, NF) -> FER2013 order.
FERPLUS_TO_FER = [4, 5, 6, 1, 3, 2, 0]


@dataclass
class Config:
    data: str = "../shared/data/fer2013.npz"
    ckplus: str = "../shared/data/faces_ckplus.tar"  # "" to train on FER2013 only
    out: str = "runs/emotion"
    seed: int = 20261202
    channels: tuple[int, ...] = (48, 96, 192, 384)  # width per stage
    convs: tuple[int, ...] = (2, 2, 2, 2)  # 3x3 convs per stage
    dropout: float = 0.4
    image_size: int = 48  # FER2013 crops
    crop: int = 44  # random crop in training, centre crop when serving
    epochs: int = 40  # about 1 min each on 2 AMX CPU cores
    batch_size: int = 128
    lr: float = 3e-3  # peak of the one-cycle schedule
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    ferplus_mix: float = 0.3  # share of the target given to the FERPlus vote distribution
    class_balance: float = 0.5  # loss weight per class = (count / max count) ** -class_balance
    ckplus_val_share: float = 0.2  # share of CK+ subjects held out for validation
    ckplus_repeat: int = 3  # CK+ training images appear this many times per epoch
    landmark_noise: float = 0.04  # landmark jitter, as a share of the eye distance
    max_rotation_deg: float = 10.0
    max_scale: float = 0.1  # random zoom in [1 - s, 1 + s]
    max_shift: float = 2.0  # pixels
    p_photo: float = 0.5  # chance of each photometric change (some use half of it)
    p_occlusion: float = 0.2
    threads: int = 2
    device: str = "auto"  # auto: cuda if available, else cpu
    bf16: bool = True  # bfloat16 autocast where the hardware has it
    #: a trained model (ONNX with ``prior_logits``, e.g. the shipped one) whose calibrated
    #: predictions on the clean aligned crops take ``teacher_mix`` of every target ("" for none)
    teacher: str = ""
    teacher_mix: float = 0.5
    #: a run's ``best.pt`` to start from instead of random weights (fine-tuning; same
    #: ``channels`` and ``convs``), "" for none
    init: str = ""


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


def soft_targets(labels: np.ndarray, votes: np.ndarray | None, config: Config) -> np.ndarray:
    onehot = np.eye(7, dtype=np.float32)[labels]
    target = onehot
    if votes is not None:
        fer_votes = votes[:, FERPLUS_TO_FER].astype(np.float32)
        totals = fer_votes.sum(axis=1, keepdims=True)
        aligned = (votes[:, 0] >= 0) & (totals[:, 0] > 0)
        dist = np.where(aligned[:, None], fer_votes / np.maximum(totals, 1), onehot)
        target = (1 - config.ferplus_mix) * onehot + config.ferplus_mix * dist
    return (1 - config.label_smoothing) * target + config.label_smoothing / 7


def teacher_targets(path: Path, crops: np.ndarray) -> np.ndarray:
    """Calibrated class probabilities of a trained model (its ``prior_logits``) on aligned
    (n, 48, 48) crops, read as the runtime reads it (flip averaged). Why: a born-again student
    (Furlanello et al. 2018) learns from its teacher's view of every image, which carries more
    than the one FER2013 label."""
    import onnxruntime as ort  # only needed with a teacher

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    teacher = OnnxEmotionClassifier(
        session, session.get_modelmeta().custom_metadata_map, CropSpec()
    )
    logits = np.concatenate(
        [teacher.logits(crops[i : i + 512], "prior_logits") for i in range(0, len(crops), 512)]
    )
    return F.softmax(torch.from_numpy(logits).float(), dim=1).numpy()


def ckplus_split(subjects: np.ndarray, config: Config) -> np.ndarray:
    """True for images of validation subjects (a seeded shuffle of the subject ids)."""
    ids = sorted(set(subjects.tolist()))
    rng = np.random.default_rng(config.seed)
    held = set(rng.permutation(ids)[: round(len(ids) * config.ckplus_val_share)].tolist())
    return np.array([s in held for s in subjects])


def build_data(config: Config, out: Path) -> dict[str, object]:
    """Aligned train/val/test arrays, soft targets, landmarks and the data hashes for the card."""
    fer = np.load(config.data)
    assert tuple(fer["class_names"]) == CLASSES, fer["class_names"]
    images, labels, split = fer["images"], fer["labels"].astype(np.int64), fer["split"]
    votes = fer["ferplus_votes"]
    landmarks = cached_landmarks(images, out / "landmarks_fer2013.npy")
    hashes = {"fer2013": file_sha256(Path(config.data))}
    train = split == "train"
    data: dict[str, object] = {
        "train_images": images[train],
        "train_landmarks": landmarks[train],
        "train_targets": soft_targets(labels[train], votes[train], config),
        "train_labels": labels[train],
        **{name: (align_crops(images[split == name], landmarks[split == name]),
                  labels[split == name]) for name in ("val", "test")},
        "landmarks_found": float(np.isfinite(landmarks[:, 0, 0]).mean()),
    }  # fmt: skip
    if config.ckplus:
        ck = load_ckplus(Path(config.ckplus))
        ck_landmarks = cached_landmarks(ck["images"], out / "landmarks_ckplus.npy")
        held = ckplus_split(ck["subjects"], config)
        keep = np.repeat(np.flatnonzero(~held), config.ckplus_repeat)
        for key, extra in (("train_images", ck["images"][keep]),
                           ("train_landmarks", ck_landmarks[keep]),
                           ("train_targets", soft_targets(ck["labels"][keep], None, config)),
                           ("train_labels", ck["labels"][keep])):  # fmt: skip
            data[key] = np.concatenate([data[key], extra])  # type: ignore[list-item]
        data["ckplus_val"] = (
            align_crops(ck["images"][held], ck_landmarks[held]),
            ck["labels"][held],
        )
        data["ckplus_subjects"] = {"train": int(len(set(ck["subjects"][~held]))),
                                   "val": int(len(set(ck["subjects"][held])))}  # fmt: skip
        hashes["ckplus"] = file_sha256(Path(config.ckplus))
    if config.teacher:
        crops = align_crops(data["train_images"], data["train_landmarks"])  # type: ignore[arg-type]
        teacher = teacher_targets(Path(config.teacher), crops)
        data["train_targets"] = (1 - config.teacher_mix) * data["train_targets"] + (  # type: ignore[operator]
            config.teacher_mix * teacher
        )
        hashes["teacher"] = file_sha256(Path(config.teacher))
    data["hashes"] = hashes
    return data


def class_weights(labels: np.ndarray, power: float) -> torch.Tensor:
    counts = np.bincount(labels, minlength=7).astype(np.float64)
    weights = (counts / counts.max()) ** -power
    weights /= (weights[labels]).mean()  # mean weight 1 over the training samples
    return torch.tensor(weights, dtype=torch.float32)


def to_input(crops: np.ndarray, mean: float, std: float) -> torch.Tensor:
    return ((torch.from_numpy(np.ascontiguousarray(crops)).float() / 255.0 - mean) / std).unsqueeze(
        1
    )


def centre(x: torch.Tensor, config: Config) -> torch.Tensor:
    m = (config.image_size - config.crop) // 2
    return x[:, :, m : m + config.crop, m : m + config.crop]


@torch.no_grad()
def logits_of(model: nn.Module, x: torch.Tensor, config: Config, device: torch.device,
              batch: int = 512) -> torch.Tensor:  # fmt: skip
    """Mean logits over the image and its mirror (the same test-time flip the runtime uses)."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        xb = (
            centre(x[i : i + batch], config)
            .to(device)
            .contiguous(memory_format=torch.channels_last)
        )
        out.append(((model(xb) + model(torch.flip(xb, dims=[3]))) / 2).float().cpu())
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


def config_hash(config: Config) -> str:
    fields = {k: v for k, v in dataclasses.asdict(config).items() if k not in ("threads", "device")}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]


def pick_device(config: Config) -> torch.device:
    if config.device != "auto":
        return torch.device(config.device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_bf16(config: Config, device: torch.device) -> bool:
    """bfloat16 autocast where the hardware computes it: about 3x faster on CPUs with AMX, but
    emulated (15x slower, measured on an AMD EPYC without AVX-512) elsewhere."""
    if not config.bf16:
        return False
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def main() -> None:
    config = parse_overrides(Config(), sys.argv[1:])
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    device = pick_device(config)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    data = build_data(config, out)
    train_images: np.ndarray = data["train_images"]  # type: ignore[assignment]
    train_landmarks: np.ndarray = data["train_landmarks"]  # type: ignore[assignment]
    train_targets = torch.from_numpy(data["train_targets"])  # type: ignore[arg-type]
    train_labels: np.ndarray = data["train_labels"]  # type: ignore[assignment]
    mean, std = float(train_images.mean() / 255), float(train_images.std() / 255)
    val_x, val_y = (to_input(data["val"][0], mean, std), torch.from_numpy(data["val"][1]))  # type: ignore[index]
    weights = class_weights(train_labels, config.class_balance)
    augment = DomainAugment(landmark_noise=config.landmark_noise,
                            max_rotation_deg=config.max_rotation_deg, max_scale=config.max_scale,
                            max_shift=config.max_shift, p_photo=config.p_photo,
                            p_occlusion=config.p_occlusion)  # fmt: skip
    print(f"data ready in {time.time() - started:.0f} s: {len(train_images)} training images, "
          f"landmarks on {data['landmarks_found']:.1%} of FER2013", flush=True)  # fmt: skip

    model = EmotionNet(config.channels, config.convs, config.dropout).to(device)
    if config.init:
        model.load_state_dict(torch.load(config.init, map_location=device))
    model = model.to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(len(train_images) / config.batch_size)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.epochs * steps_per_epoch
    )
    autocast = {
        "device_type": device.type,
        "dtype": torch.bfloat16,
        "enabled": use_bf16(config, device),
    }
    state_path, key = out / "last.pt", config_hash(config)
    first_epoch, best = 0, {"val_acc": -1.0, "epoch": 0}
    if state_path.exists():
        state = torch.load(state_path, weights_only=False)
        if state["config_hash"] == key:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            schedule.load_state_dict(state["schedule"])
            first_epoch, best = state["epoch"], state["best"]
            print(f"resuming after epoch {first_epoch}", flush=True)
        else:
            print("last.pt is from another config; starting over", flush=True)
    log = open(out / "train_log.jsonl", "a")
    for epoch in range(first_epoch, config.epochs):
        model.train()
        rng = np.random.default_rng([config.seed, epoch])  # per epoch, so a resume replays it
        torch.manual_seed(config.seed + epoch)
        order = rng.permutation(len(train_images))
        total_loss, epoch_started = 0.0, time.time()
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            crops = np.stack([augment(train_images[j], train_landmarks[j], rng) for j in batch])
            dy, dx = rng.integers(0, config.image_size - config.crop + 1, 2)
            x = to_input(crops[:, dy : dy + config.crop, dx : dx + config.crop], mean, std)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            target = train_targets[batch].to(device)
            with torch.autocast(**autocast):
                logits = model(x)
            per_sample = torch.sum(-target * F.log_softmax(logits.float(), dim=1), dim=1)
            loss = (per_sample * weights.to(device)[train_labels[batch]]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
        with torch.autocast(**autocast):
            val_logits = logits_of(model, val_x, config, device)
        val_acc = float((val_logits.argmax(1) == val_y).float().mean())
        record = {"epoch": epoch + 1, "train_loss": round(total_loss / len(order), 4),
                  "val_acc": round(val_acc, 4), "epoch_s": round(time.time() - epoch_started),
                  "lr": schedule.get_last_lr()[0]}  # fmt: skip
        log.write(json.dumps(record) + "\n")
        log.flush()
        print(json.dumps(record), flush=True)
        if val_acc > best["val_acc"]:
            best = {"val_acc": val_acc, "epoch": epoch + 1}
            torch.save(model.state_dict(), out / "best.pt")
        checkpoint = {"config_hash": key, "model": model.state_dict(), "epoch": epoch + 1,
                      "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                      "best": best}  # fmt: skip
        torch.save(checkpoint, out / "last.tmp")
        (out / "last.tmp").replace(state_path)  # atomic: a kill never leaves half a checkpoint

    model.load_state_dict(torch.load(out / "best.pt"))
    model = model.float().cpu()
    cpu = torch.device("cpu")
    summary = evaluate_final(model, data, config, mean, std, cpu)
    summary.update({
        "best_epoch": best["epoch"],
        "params": sum(p.numel() for p in model.parameters()),
        "training_images": int(len(train_images)),
        "class_weights": [round(float(w), 3) for w in weights],
        "landmarks_found_fer2013": data["landmarks_found"],
        "ckplus_subjects": data.get("ckplus_subjects"),
        "data_sha256": data["hashes"],
        "mean": mean,
        "std": std,
        "config": dataclasses.asdict(config),
        "command": " ".join(["training/train_emotion.py", *sys.argv[1:]]),
    })  # fmt: skip
    export_onnx(model, config, summary, out / "emotion.onnx")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))


def evaluate_final(model: nn.Module, data: dict[str, object], config: Config, mean: float,
                   std: float, device: torch.device) -> dict[str, object]:  # fmt: skip
    """Temperature on FER2013 val; accuracy and calibration on val, CK+ val and test (once)."""
    results: dict[str, object] = {}
    logits = {}
    for name in ("val", "test", "ckplus_val"):
        if name in data:
            images, labels = data[name]  # type: ignore[misc]
            logits[name] = (logits_of(model, to_input(images, mean, std), config, device),
                            torch.from_numpy(labels))  # fmt: skip
    temperature = fit_temperature(*logits["val"])
    results["temperature"] = temperature
    for name, (lg, y) in logits.items():
        probs = F.softmax(lg / temperature, dim=1).numpy()
        results[f"{name}_acc"] = float((probs.argmax(1) == y.numpy()).mean())
        results[f"{name}_ece"] = expected_calibration_error(probs, y.numpy())
    results["val_ece_before"] = expected_calibration_error(
        F.softmax(logits["val"][0], 1).numpy(), logits["val"][1].numpy()
    )
    return results


def export_onnx(model: nn.Module, config: Config, summary: dict[str, object], path: Path) -> None:
    """Logits for (N, 1, crop, crop) inputs; the runtime reads preprocessing from the metadata."""
    model.eval()
    model = model.to(memory_format=torch.contiguous_format)
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
        "alignment": alignment_signature(),
        "training_command": str(summary["command"]),
        "seed": str(config.seed),
        "config_sha256": config_hash(config),
        "data_sha256": json.dumps(summary["data_sha256"], sort_keys=True),
    }
    write_onnx_metadata(path, metadata)


if __name__ == "__main__":
    main()
