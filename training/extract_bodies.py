"""Write the bodies inside a ``fit_emotion_head.py`` model back out as run folders.

    .venv/bin/python training/extract_bodies.py --model=src/moodtune/models/emotion.onnx \
        --out=runs/shipped

gives ``runs/shipped/body0/emotion.onnx``, ... in the form ``train_emotion.py`` exports
(normalised input, a final Gemm to ``logits``), so ``fit_emotion_head.py --bodies=`` can
combine the shipped body with newly trained ones without training it again.

Why this is exact: each body's output layer is written as its slice of the model's
``prior_logits`` layer times the number of bodies, with temperature 1, and each carries the
whole prior bias; ``fit_emotion_head.prior_layer`` divides both by the number of bodies, so the
bodies extracted from a model give back that model's plain ensemble. With one body that is the
body's own calibrated layer; with several, a single body's bias is the ensemble's.
"""

import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from common import parse_overrides, write_onnx_metadata  # training/ is on sys.path
from onnx import helper, numpy_helper


@dataclass
class ExtractConfig:
    model: str = "src/moodtune/models/emotion.onnx"
    out: str = "runs/shipped"


def body_nodes(model: onnx.ModelProto, prefix: str) -> list[onnx.NodeProto]:
    """A body's nodes after its normalisation, reading the graph input ``input`` instead."""
    normalisation = (prefix + "centred", prefix + "input")
    nodes = [
        copy.deepcopy(n)  # the merged model's own nodes stay as they are
        for n in model.graph.node
        if n.output[0].startswith(prefix) and n.output[0] not in normalisation
    ]
    for node in nodes:
        node.input[:] = ["input" if name == prefix + "input" else name for name in node.input]
    return nodes


def feature_width(nodes: list[onnx.NodeProto], weights: dict[str, np.ndarray]) -> int:
    """Pooled features = output channels of the body's last convolution."""
    last_conv = [n for n in nodes if n.op_type == "Conv"][-1]
    return int(weights[last_conv.input[1]].shape[0])


def feature_starts(model: onnx.ModelProto, weights: dict[str, np.ndarray], count: int) -> list[int]:
    """Where each body's pooled features begin in the concatenated ``features`` (and, last,
    where they end)."""
    widths = [feature_width(body_nodes(model, f"body{i}/"), weights) for i in range(count)]
    return [0, *np.cumsum(widths).tolist()]


def body_model(model: onnx.ModelProto, weights: dict[str, np.ndarray], index: int,
               starts: list[int]) -> onnx.ModelProto:  # fmt: skip
    """Body ``index`` of a merged model of ``len(starts) - 1`` bodies (``starts`` from
    :func:`feature_starts`), from its normalised input to a Gemm on its features."""
    count = len(starts) - 1
    nodes = body_nodes(model, f"body{index}/")
    layer = weights["prior_weight"][:, starts[index] : starts[index + 1]] * count
    nodes.append(helper.make_node("Gemm", [nodes[-1].output[0], "weight", "bias"], ["logits"],
                                  transB=1))  # fmt: skip
    used = {name for node in nodes for name in node.input}
    initializers = [i for i in model.graph.initializer if i.name in used]
    initializers += [
        numpy_helper.from_array(layer.astype(np.float32), "weight"),
        numpy_helper.from_array(weights["prior_bias"].astype(np.float32), "bias"),
    ]
    graph = helper.make_graph(
        nodes,
        "moodtune_emotion_body",
        [model.graph.input[0]],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["n", 7])],
        initializers,
    )
    body = helper.make_model(graph, opset_imports=list(model.opset_import))
    onnx.checker.check_model(body)
    return body


def body_metadata(merged: dict[str, str], weights: dict[str, np.ndarray], index: int,
                  provenance: dict[str, str]) -> dict[str, str]:  # fmt: skip
    """What ``fit_emotion_head.load_body`` and the runtime read, with the body's provenance."""
    prefix = f"body{index}/"
    return {
        **{k: merged[k] for k in ("classes", "image_size", "crop", "tta", "alignment")},
        "mean": f"{float(weights[prefix + 'mean']):.6f}",
        "std": f"{float(weights[prefix + 'std']):.6f}",
        "temperature": "1.0",  # the prior layer is already calibrated
        **{k: v for k, v in provenance.items() if v is not None},
        "extracted_from": merged["training_command"],
    }


def main() -> None:
    config = parse_overrides(ExtractConfig(), sys.argv[1:])
    model = onnx.load(config.model)
    merged = {p.key: p.value for p in model.metadata_props}
    bodies = json.loads(merged["bodies"])
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    starts = feature_starts(model, weights, len(bodies))
    for index, provenance in enumerate(bodies):
        run = Path(config.out) / f"body{index}"
        run.mkdir(parents=True, exist_ok=True)
        path = run / "emotion.onnx"
        onnx.save(body_model(model, weights, index, starts), str(path))
        write_onnx_metadata(path, body_metadata(merged, weights, index, provenance))
        print(f"{path}: {provenance.get('training_command')}")


if __name__ == "__main__":
    main()
