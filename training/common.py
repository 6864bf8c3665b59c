"""Helpers shared by the training scripts: ``--key=value`` overrides and ONNX metadata."""

import dataclasses
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def parse_overrides(config: T, argv: list[str]) -> T:
    """``--key=value`` overrides, type-checked against the dataclass field's default."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    for arg in argv:
        key, _, value = arg.removeprefix("--").partition("=")
        if key not in fields:
            raise SystemExit(f"unknown option --{key}; known: {', '.join(fields)}")
        current = getattr(config, key)
        if isinstance(current, tuple):
            kind = type(current[0]) if current else str  # the default's element type
            setattr(config, key, tuple(kind(v) for v in value.split(",")))
        elif isinstance(current, bool):  # bool("false") would be True
            setattr(config, key, value.lower() in ("1", "true", "yes"))
        else:
            setattr(config, key, type(current)(value))
    return config


def write_onnx_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Store key/value metadata in an exported ONNX file (the runtime reads it from there)."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
