"""Train moodtune's audio CNN on labelled music from ../shared/data and export it to ONNX.

    .venv/bin/pip install torch==2.13.0 onnx   # CPU wheel; never a CUDA torch here
    .venv/bin/python training/train_audio.py --data=../shared/data --out=runs/audio

Input: 128-band log-mel patches of 128 frames (2.97 s, see ``moodtune.audio.mel``). Two heads
on a shared 128-d embedding (the penultimate layer, seed 003's "preprocessing network"):
Russell quadrant (softmax, 4Q clips only) and style (multi-label sigmoid over
``audio_data.STYLES``). A track's output is the mean over its patches. Splits keep artists
(4Q) and tracks (game music, GTZAN) on one side; model selection on val, test evaluated once
with the selected checkpoint. Overrides: ``--key=value`` for any field of ``Config``.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import audio_data  # noqa: E402
from audio_data import QUADRANTS, STYLES, Clip  # noqa: E402
from common import parse_overrides, write_onnx_metadata  # noqa: E402

from moodtune.audio.embed import patches  # noqa: E402  (the runtime's patching, not a copy)

PATCH_FRAMES = 128
OUTPUTS = ("embedding", "quadrant", "style")


@dataclass
class Config:
    data: str = "../shared/data"
    work: str = "runs/audio_data"  # unpacked clips and the spectrogram cache
    out: str = "runs/audio"
    seed: int = 20261121
    channels: tuple[int, ...] = (16, 32, 64, 128)  # GPU recipe: (32, 64, 128, 256)
    embedding_dim: int = 128
    dropout: float = 0.3
    epochs: int = 40  # about 25 s each on 2 CPU cores
    crops_per_clip: int = 4  # random patches drawn from each training clip per epoch
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-3
    style_weight: float = 0.5  # loss = CE(quadrant) + style_weight * BCE(style)
    gain_db: float = 6.0  # random level change in training, +- dB
    freq_mask: int = 16  # SpecAugment: up to this many mel bands masked
    time_mask: int = 24  # ... and this many frames
    eval_hop: int = 64  # patch hop when scoring a whole clip
    threads: int = 2


class AudioNet(nn.Module):
    """Four 3x3 conv + BN + ReLU stages with max-pooling, mean+max pooled over time and
    frequency, then a 128-d embedding (ReLU) feeding the quadrant and style heads."""

    def __init__(self, channels: tuple[int, ...], embedding_dim: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 1
        for out_ch in channels:
            layers += [
                nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_ch),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ]
            in_ch = out_ch
        self.features = nn.Sequential(*layers)
        self.embed = nn.Sequential(nn.Linear(2 * in_ch, embedding_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.quadrant = nn.Linear(embedding_dim, len(QUADRANTS))
        self.style = nn.Linear(embedding_dim, len(STYLES))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.features(x)
        pooled = torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)
        embedding = self.embed(pooled)
        z = self.dropout(embedding)
        return embedding, self.quadrant(z), self.style(z)


def random_batch(
    clips: list[Clip], config: Config, rng: np.random.Generator, mean: float, std: float
) -> torch.Tensor:
    """Random patches with level change, frequency and time masks (SpecAugment)."""
    out = np.empty((len(clips), 1, 128, PATCH_FRAMES), np.float32)
    for i, clip in enumerate(clips):
        mel = clip.mel
        start = int(rng.integers(0, max(1, mel.shape[1] - PATCH_FRAMES + 1)))
        window = mel[:, start : start + PATCH_FRAMES]
        patch = patches(window, frames=PATCH_FRAMES, hop=PATCH_FRAMES)[0]
        patch = patch + rng.uniform(-config.gain_db, config.gain_db)
        patch = (patch - mean) / std
        f0, fw = rng.integers(0, 128), rng.integers(0, config.freq_mask + 1)
        t0, tw = rng.integers(0, PATCH_FRAMES), rng.integers(0, config.time_mask + 1)
        patch[f0 : f0 + fw, :] = 0.0
        patch[:, t0 : t0 + tw] = 0.0
        out[i, 0] = patch
    return torch.from_numpy(out)


def losses(
    quad_logits: torch.Tensor,
    style_logits: torch.Tensor,
    quadrant: torch.Tensor,
    style: torch.Tensor,
    config: Config,
) -> torch.Tensor:
    labelled = quadrant >= 0
    quad_loss = (
        F.cross_entropy(quad_logits[labelled], quadrant[labelled])
        if labelled.any()
        else quad_logits.sum() * 0.0
    )
    style_loss = F.binary_cross_entropy_with_logits(style_logits, style)
    return quad_loss + config.style_weight * style_loss


@torch.no_grad()
def clip_outputs(
    model: nn.Module, clips: list[Clip], config: Config, mean: float, std: float
) -> dict[str, np.ndarray]:
    """Per clip: mean embedding, mean quadrant probabilities, mean style probabilities."""
    model.eval()
    emb, quad, style = [], [], []
    for clip in clips:
        windows = patches(clip.mel, frames=PATCH_FRAMES, hop=config.eval_hop)
        x = torch.from_numpy((windows - mean) / std)[:, None]
        e, q, s = model(x)
        emb.append(e.mean(0).numpy())
        quad.append(F.softmax(q, dim=1).mean(0).numpy())
        style.append(torch.sigmoid(s).mean(0).numpy())
    return {"embedding": np.stack(emb), "quadrant": np.stack(quad), "style": np.stack(style)}


def quadrant_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Quadrant accuracy and the valence/arousal sign accuracies derived from it."""
    pred = probs.argmax(1)
    valence = probs[:, 0] + probs[:, 3]  # Q1 and Q4 have positive valence
    arousal = probs[:, 0] + probs[:, 1]  # Q1 and Q2 high arousal
    true_v = np.isin(labels, (0, 3))
    true_a = np.isin(labels, (0, 1))
    return {
        "quadrant_accuracy": float((pred == labels).mean()),
        "valence_sign_accuracy": float(((valence > 0.5) == true_v).mean()),
        "arousal_sign_accuracy": float(((arousal > 0.5) == true_a).mean()),
        "n": int(len(labels)),
    }


def style_top1(probs: np.ndarray, clips: list[Clip]) -> float:
    """Share of clips whose most probable style is one of their labels."""
    hits = [STYLES[int(p.argmax())] in clip.styles for p, clip in zip(probs, clips, strict=True)]
    return float(np.mean(hits)) if hits else float("nan")


def evaluate(
    model: nn.Module, clips: list[Clip], config: Config, mean: float, std: float
) -> dict[str, object]:
    out = clip_outputs(model, clips, config, mean, std)
    emotion = [i for i, c in enumerate(clips) if c.quadrant >= 0]
    styled = [i for i, c in enumerate(clips) if c.quadrant < 0]
    labels = np.array([clips[i].quadrant for i in emotion])
    return {
        **(quadrant_metrics(out["quadrant"][emotion], labels) if emotion else {}),
        "style_top1_games_gtzan": style_top1(out["style"][styled], [clips[i] for i in styled]),
        "style_top1_4q": style_top1(out["style"][emotion], [clips[i] for i in emotion]),
    }


def main() -> None:
    config = parse_overrides(Config(), sys.argv[1:])
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)

    clips = audio_data.dataset(Path(config.data), Path(config.work), config.seed)
    by_split = {s: [c for c in clips if c.split == s] for s in ("train", "val", "test", "heldout")}
    train_clips = by_split["train"]
    frames = np.concatenate([c.mel for c in train_clips], axis=1)
    mean, std = float(frames.mean()), float(frames.std())

    model = AudioNet(config.channels, config.embedding_dim, config.dropout)
    if config.epochs > 0:
        log = train(model, by_split, config, rng, mean, std, out)
    else:  # --epochs=0: evaluate and export the best checkpoint of an earlier run again
        log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    model.load_state_dict(torch.load(out / "best.pt"))
    centre = clip_outputs(model, train_clips, config, mean, std)["embedding"].mean(axis=0)
    summary = {
        "selected_epoch": int(np.argmax([selection_score(e["val"]) for e in log])) + 1,
        "mean": mean,
        "std": std,
        "splits": {s: len(v) for s, v in by_split.items()},
        "val": evaluate(model, by_split["val"], config, mean, std),
        "test": evaluate(model, by_split["test"], config, mean, std),
        "heldout_sources": evaluate(model, by_split["heldout"], config, mean, std),
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": dataclasses.asdict(config),
        "command": " ".join(["training/train_audio.py", *sys.argv[1:]]),
    }
    export_onnx(model, torch.from_numpy(centre), summary, out / "audio.onnx")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "train_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    print(json.dumps({k: v for k, v in summary.items() if k != "config"}, indent=2))


def selection_score(val: dict[str, object]) -> float:
    """Model selection on val: quadrant accuracy, plus a quarter of style top-1 on game/GTZAN."""
    return float(val["quadrant_accuracy"]) + 0.25 * float(val["style_top1_games_gtzan"])  # type: ignore[arg-type]


def train(
    model: AudioNet,
    by_split: dict[str, list[Clip]],
    config: Config,
    rng: np.random.Generator,
    mean: float,
    std: float,
    out: Path,
) -> list[dict[str, object]]:
    """One-cycle AdamW over random patches; keeps the best val checkpoint in ``out/best.pt``."""
    clips = by_split["train"]
    quadrant = torch.tensor([c.quadrant for c in clips])
    style = torch.from_numpy(audio_data.style_matrix(clips))
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    steps_per_epoch = math.ceil(len(clips) * config.crops_per_clip / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch
    )
    best_score, log = -1.0, []
    for epoch in range(config.epochs):
        model.train()
        started, total = time.perf_counter(), 0.0
        order = np.concatenate([rng.permutation(len(clips)) for _ in range(config.crops_per_clip)])
        for step in range(steps_per_epoch):
            idx = order[step * config.batch_size : (step + 1) * config.batch_size]
            x = random_batch([clips[i] for i in idx], config, rng, mean, std)
            _, q_logits, s_logits = model(x)
            loss = losses(q_logits, s_logits, quadrant[idx], style[idx], config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        val = evaluate(model, by_split["val"], config, mean, std)
        entry = {"epoch": epoch + 1, "loss": total / steps_per_epoch, "val": val,
                 "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        log.append(entry)
        print(json.dumps(entry), flush=True)
        if selection_score(val) > best_score:
            best_score = selection_score(val)
            torch.save(model.state_dict(), out / "best.pt")
    return log


class _Exported(nn.Module):
    """What ships: normalised patches in; embedding (centred on the training clips' mean, so
    cosine similarity compares what differs between tracks) and probabilities out."""

    def __init__(self, model: AudioNet, centre: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("centre", centre.float())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        embedding, quadrant, style = self.model(x)
        return embedding - self.centre, F.softmax(quadrant, dim=1), torch.sigmoid(style)


def export_onnx(
    model: AudioNet, centre: torch.Tensor, summary: dict[str, object], path: Path
) -> None:
    """(N, 1, 128, 128) normalised log-mel patches -> embedding, quadrant probs, style probs."""
    model.eval()
    dummy = torch.zeros(1, 1, 128, PATCH_FRAMES)
    torch.onnx.export(_Exported(model, centre), (dummy,), str(path), input_names=["input"],
                      output_names=list(OUTPUTS),
                      dynamic_axes={n: {0: "n"} for n in ("input", *OUTPUTS)},
                      opset_version=17, dynamo=False)  # fmt: skip
    config = summary["config"]
    assert isinstance(config, dict)
    metadata = {
        "quadrants": ",".join(QUADRANTS),
        "styles": ",".join(STYLES),
        "n_mels": "128",
        "patch_frames": str(PATCH_FRAMES),
        "mean": f"{summary['mean']:.6f}",
        "std": f"{summary['std']:.6f}",
        "training_command": str(summary["command"]),
        "seed": str(config["seed"]),
    }
    write_onnx_metadata(path, metadata)


if __name__ == "__main__":
    main()
