"""``--key=value`` command-line overrides for the training scripts' dataclass configs."""

import dataclasses
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
            setattr(config, key, tuple(int(v) for v in value.split(",")))
        else:
            setattr(config, key, type(current)(value))
    return config
