"""Load a shipped model only if its bytes match the sha256 in its sidecar JSON.

Both the emotion and the audio model ship as ``<name>.onnx`` plus ``<name>.json``
(``{"file", "sha256", ...}``); a damaged or swapped file is a broken install and must fail
loudly at load, not give wrong answers later.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from moodtune.errors import ModelError

__all__ = ["CheckedModel", "load_checked", "read_checked"]


@dataclass(frozen=True)
class CheckedModel:
    session: Any  # onnxruntime.InferenceSession, safe to share between threads
    metadata: dict[str, str]  # the ONNX custom metadata written at export
    spec: dict[str, Any]  # the sidecar JSON
    sha256: str


def read_checked(sidecar: Path, *, what: str) -> tuple[dict[str, Any], bytes, str]:
    """(sidecar JSON, model bytes, sha256) once the bytes match the sidecar's checksum; any
    shipped model file (ONNX, or numpy arrays for a tiny model) loads through here."""
    try:
        spec = json.loads(sidecar.read_text())
        model_path = sidecar.parent / spec["file"]
        data = model_path.read_bytes()
    except (OSError, KeyError, ValueError) as exc:
        raise ModelError(f"cannot read {what} model {sidecar}: {exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec["sha256"]:
        raise ModelError(
            f"checksum mismatch for {model_path.name}: the file is damaged or was replaced",
            expected=spec["sha256"],
            actual=digest,
        )
    return spec, data, digest


def load_checked(sidecar: Path, *, what: str, threads: int = 1) -> CheckedModel:
    """Read ``sidecar``, verify the model file's checksum and open a CPU session."""
    import onnxruntime as ort

    spec, data, digest = read_checked(sidecar, what=what)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(data, sess_options=options, providers=["CPUExecutionProvider"])
    return CheckedModel(session, dict(session.get_modelmeta().custom_metadata_map), spec, digest)
