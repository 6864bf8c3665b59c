import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from moodtune.errors import InvalidInput, ModelError
from moodtune.recommend import EMOTIONS
from moodtune.vision.emotion import DEFAULT_MODEL, CropSpec, OnnxEmotionClassifier, crop_face
from moodtune.vision.evaluate import classification_report, restricted_view


@pytest.fixture(scope="module")
def classifier() -> OnnxEmotionClassifier:
    return OnnxEmotionClassifier.from_path()


def test_shipped_model_metadata_matches_the_contract(classifier: OnnxEmotionClassifier) -> None:
    assert classifier.classes == EMOTIONS
    assert classifier.image_size == 48 and classifier.crop_size <= 48
    assert classifier.temperature > 0 and "training_command" in classifier.metadata
    assert (DEFAULT_MODEL.parent / "emotion.onnx").stat().st_size <= 20 * 1024 * 1024
    assert (DEFAULT_MODEL.parent / "emotion.md").exists(), "the model card ships with the model"


def test_probabilities_are_calibrated_rows_that_sum_to_one(
    classifier: OnnxEmotionClassifier,
) -> None:
    crops = np.random.default_rng(0).integers(0, 256, (5, 48, 48), dtype=np.uint8)
    probs = classifier.predict_proba(crops)
    assert probs.shape == (5, 7) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert classifier.predict_proba(np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_mirror_image_gets_the_same_answer(classifier: OnnxEmotionClassifier) -> None:
    crop = np.random.default_rng(1).integers(0, 256, (1, 48, 48), dtype=np.uint8)
    np.testing.assert_allclose(
        classifier.predict_proba(crop), classifier.predict_proba(crop[:, :, ::-1]), atol=1e-5
    )


def test_probabilities_come_from_the_fitted_layer(classifier: OnnxEmotionClassifier) -> None:
    """The shipped graph also outputs ``prior_logits`` (the layer before fitting on real
    photos, kept so the recipe can be re-scored); readings must use ``logits``."""
    assert [o.name for o in classifier.session.get_outputs()] == ["logits", "prior_logits"]
    crops = np.random.default_rng(2).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    m = (classifier.image_size - classifier.crop_size) // 2
    x = crops[:, m : m + classifier.crop_size, m : m + classifier.crop_size] / np.float32(255)
    x = ((x - classifier.mean) / classifier.std)[:, None].astype(np.float32)
    mirrored = np.ascontiguousarray(x[:, :, :, ::-1])
    fitted, prior = (a + b for a, b in zip(*(classifier.session.run(None, {"input": v})
                                              for v in (x, mirrored)), strict=True))  # fmt: skip
    expected = np.exp(fitted / 2 / classifier.temperature)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(classifier.predict_proba(crops), expected, atol=1e-5)
    assert not np.allclose(fitted, prior, atol=1e-2)


@pytest.mark.parametrize("shape", [(48, 48), (2, 64, 64), (2, 48, 48, 3)])
def test_wrong_crop_shapes_are_rejected(
    classifier: OnnxEmotionClassifier, shape: tuple[int, ...]
) -> None:
    with pytest.raises(InvalidInput, match="crops must be"):
        classifier.predict_proba(np.zeros(shape, np.uint8))


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(DEFAULT_MODEL, tmp_path / "emotion.json")
    data = bytearray((DEFAULT_MODEL.parent / "emotion.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "emotion.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        OnnxEmotionClassifier.from_path(tmp_path / "emotion.json")


def test_a_missing_model_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "emotion.json").write_text(json.dumps({"file": "gone.onnx", "sha256": "0"}))
    with pytest.raises(ModelError, match="cannot read"):
        OnnxEmotionClassifier.from_path(tmp_path / "emotion.json")


def test_crop_is_square_around_the_box_with_margin_and_shift() -> None:
    pixels = np.zeros((100, 100, 3), np.uint8)
    pixels[40:60, 40:60] = 255  # a white 20x20 "face"
    tight = crop_face(pixels, (40, 40, 20, 20), spec=CropSpec(scale=1.0), size=20)
    assert tight.min() > 240
    loose = crop_face(pixels, (40, 40, 20, 20), spec=CropSpec(scale=2.0), size=40)
    assert loose[20, 20] > 240 and loose[2, 2] < 15
    shifted = crop_face(pixels, (40, 40, 20, 20), spec=CropSpec(scale=1.0, shift_y=0.5), size=20)
    assert shifted[2, 10] > 240 and shifted[17, 10] < 15  # moved down: the face is in the top half


def test_crop_outside_the_image_repeats_the_edge() -> None:
    pixels = np.full((50, 50, 3), 200, np.uint8)
    crop = crop_face(pixels, (-20, -20, 40, 40), spec=CropSpec(scale=1.5), size=48)
    assert crop.shape == (48, 48) and crop.min() == crop.max() == 200
    with pytest.raises(InvalidInput, match="positive size"):
        crop_face(pixels, (0, 0, 0, 10), spec=CropSpec())


def test_report_known_answer() -> None:
    report = classification_report(
        np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"]
    )
    assert report["accuracy"] == 0.6 and report["n"] == 5
    assert report["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert report["per_class"]["b"] == {"precision": 0.6667, "recall": 1.0, "f1": 0.8, "support": 2}
    assert report["per_class"]["c"]["f1"] == 0.0
    assert report["macro_f1"] == pytest.approx((0.5 + 0.8 + 0.0) / 3, abs=1e-4)
    with pytest.raises(InvalidInput):
        classification_report(np.zeros(2), np.zeros(3), ["a"])


def test_restricted_view_answers_only_among_kept_classes() -> None:
    probs = np.array([[0.1, 0.5, 0.4], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    view = restricted_view(np.array([2, 0, 1]), probs, ["a", "b", "c"], ["a", "c"])
    assert view == {"classes": ["a", "c"], "accuracy": 1.0, "n": 2}


def test_real_photos_end_to_end_beat_chance_clearly(face_photos) -> None:  # type: ignore[no-untyped-def]
    """Detector + calibrated crop + classifier on real whole-head photos (posed labels)."""
    from moodtune.vision.pipeline import EmotionPipeline

    pipeline = EmotionPipeline.default()
    happy = [pixels for label, pixels in face_photos if label == "happy"]
    answers = [EMOTIONS[int(np.argmax(pipeline.analyse_pixels(p).faces[0].probs))] for p in happy]
    assert answers.count("happy") / len(answers) >= 0.8
    every = [(label, pipeline.analyse_pixels(p).faces[0].probs) for label, p in face_photos]
    accuracy = np.mean([EMOTIONS[int(np.argmax(probs))] == label for label, probs in every])
    assert accuracy >= 0.40  # 7 classes: chance is 0.14; the model card has the measured value
