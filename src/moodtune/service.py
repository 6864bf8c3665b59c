"""Use cases that join the pure recommender to the catalog; the API and the CLI both call these,
so ``POST /recommendations`` and ``moodtune recommend --json`` give the same answer."""

import secrets
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from moodtune.catalog import repo
from moodtune.catalog.models import Track
from moodtune.recommend import MoodPlan, RankedTrack, RankQuery, TrackMatrix, plan_mood, rank
from moodtune.recommend.mood import EmotionInput, Goal, Strategy
from moodtune.recommend.rank import Popularity

__all__ = ["PlaylistParams", "PlaylistResult", "recommend_playlist"]


@dataclass(frozen=True)
class PlaylistParams:
    emotions: EmotionInput
    strategy: Strategy = "match"
    n: int = 10
    genres: tuple[str, ...] = ()
    popularity: Popularity = "any"
    allow_explicit: bool = True
    playable_only: bool = False
    seed: int | None = None
    preset: str = "russell"
    goal: Goal = "auto"


@dataclass(frozen=True)
class PlaylistResult:
    plan: MoodPlan
    seed: int
    ranked: list[RankedTrack]
    tracks: dict[int, Track] = field(repr=False)


def recommend_playlist(
    params: PlaylistParams, *, matrix: TrackMatrix, session: Session
) -> PlaylistResult:
    """Plan the mood, rank the matrix and load the chosen tracks' rows.

    Without a seed one is drawn and returned, so any playlist can be reproduced exactly.
    """
    seed = params.seed if params.seed is not None else secrets.randbelow(2**31)
    plan = plan_mood(
        params.emotions,
        strategy=params.strategy,
        n=params.n,
        preset=params.preset,
        goal=params.goal,
    )
    query = RankQuery(
        targets=plan.targets,
        intents=plan.intents,
        n=params.n,
        journey=params.strategy == "journey",
        genres=tuple(g.casefold() for g in params.genres),
        popularity=params.popularity,
        allow_explicit=params.allow_explicit,
        playable_only=params.playable_only,
        seed=seed,
    )
    ranked = rank(matrix, query)
    tracks = repo.tracks_by_ids([r.id for r in ranked], session=session)
    return PlaylistResult(
        plan=plan, seed=seed, ranked=[r for r in ranked if r.id in tracks], tracks=tracks
    )
