"""``training/extract_bodies.py`` gives back the shipped model's body with its own layer, so a
new body can be combined with it (needs the ``train`` extra: onnx)."""

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from moodtune.vision.emotion import DEFAULT_MODEL

onnx = pytest.importorskip("onnx")
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "training"))
from extract_bodies import body_metadata, body_model, feature_starts  # noqa: E402


def test_the_extracted_body_gives_the_models_plain_ensemble_exactly() -> None:
    model = onnx.load(str(DEFAULT_MODEL.parent / "emotion.onnx"))
    merged = {p.key: p.value for p in model.metadata_props}
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    body = body_model(model, weights, 0, feature_starts(model, weights, 1))
    metadata = body_metadata(merged, weights, 0, {"seed": "1"})
    crops = np.random.default_rng(0).random((5, 1, 44, 44), dtype=np.float32)
    prior = ort.InferenceSession(model.SerializeToString()).run(["prior_logits"], {"input": crops})
    normalised = (crops - float(metadata["mean"])) / float(metadata["std"])
    logits = ort.InferenceSession(body.SerializeToString()).run(["logits"], {"input": normalised})
    assert metadata["temperature"] == "1.0" and metadata["seed"] == "1"
    np.testing.assert_allclose(logits[0], prior[0], atol=1e-4)
    assert not np.allclose(logits[0][0], logits[0][1])  # different crops, different answers
