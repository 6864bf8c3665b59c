"""Skip a test whose real service or tool is missing here, or fail it where CI says that
service must be tested (``MOODTUNE_REQUIRE_*``, set by ``.ci/run``)."""

import os
from typing import NoReturn

import pytest


def unavailable(what: str, requirement: str, reason: str) -> NoReturn:
    """Skip (``what`` cannot be tested here because of ``reason``), or fail when the
    environment variable ``requirement`` is set."""
    if os.environ.get(requirement):
        pytest.fail(f"{what} is required here ({requirement}) but {reason}")
    pytest.skip(f"{what} tests skipped: {reason}")
