from typing import Any

import pytest

from moodtune.recommend import FEATURES, RankQuery, TrackMatrix, plan_mood


def _number(text: str) -> float | None:
    return float(text) if text else None


@pytest.fixture(scope="session")
def real_columns(catalog_rows: list[dict[str, str]]) -> dict[str, Any]:
    """The columns of the whole bundled catalog for ``TrackMatrix.build``, from the CSV."""
    return {
        "ids": list(range(len(catalog_rows))),
        "features": {f: [_number(r[f]) for r in catalog_rows] for f in FEATURES},
        "popularity": [_number(r["popularity"]) for r in catalog_rows],
        "explicit": [None] * len(catalog_rows),
        "artists": [r["artists"].split(", ") for r in catalog_rows],
        "titles": [r["track_name"] for r in catalog_rows],
        "genres": [[g for g in r["genres_all"].split(";") if g] for r in catalog_rows],
    }


@pytest.fixture(scope="session")
def real_matrix(real_columns: dict[str, Any]) -> TrackMatrix:
    """The ranking matrix of the whole bundled catalog, built straight from the CSV (no DB)."""
    return TrackMatrix.build(**real_columns)


def query_for(
    emotion: object, strategy: str = "match", n: int = 10, preset: str = "heard", **kwargs: object
) -> RankQuery:
    """The query the service would rank for ``emotion`` with ``strategy``, plus ``kwargs``."""
    plan = plan_mood(emotion, strategy=strategy, n=n, preset=preset)  # type: ignore[arg-type]
    return RankQuery(
        targets=plan.targets,
        intents=plan.intents,
        n=n,
        journey=strategy == "journey",
        points=plan.path,
        heard_weight=plan.heard_weight,
        **kwargs,  # type: ignore[arg-type]
    )
