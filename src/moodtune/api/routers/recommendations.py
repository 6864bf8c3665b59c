"""Turn a mood into a playlist."""

from fastapi import APIRouter, Request

from moodtune.api.deps import IndexDep, LangDep, OptionalListenerDep, SessionDep, TasteCacheDep
from moodtune.api.schemas import ErrorOut, RecommendationOut, RecommendIn
from moodtune.service import playlist_for_listener

router = APIRouter(tags=["recommendations"])


@router.post(
    "/recommendations",
    response_model=RecommendationOut,
    responses={400: {"model": ErrorOut}, 422: {"model": ErrorOut}, 503: {"model": ErrorOut}},
)
def recommend(
    body: RecommendIn,
    request: Request,
    session: SessionDep,
    index: IndexDep,
    listener: OptionalListenerDep,
    taste_cache: TasteCacheDep,
    lang: LangDep,
) -> RecommendationOut:
    """Rank catalog tracks for a mood, a strategy and the listener's parameters.

    Strategies: ``match`` the mood, ``uplift`` it, ``calm`` down, or ``journey`` (tracks ordered
    from the current mood to the goal). Every track carries a ``score`` and 1-3 ``reasons``;
    the response's ``seed`` reproduces the same playlist. With ``personalization`` medium or
    high, the taste learned from this browser's likes and skips joins the score.
    """
    result = playlist_for_listener(
        body.params(),
        listener.id if listener else None,
        index=index,
        taste_cache=taste_cache,
        session=session,
    )
    request.app.state.metrics.recommendations.labels(body.strategy).inc()
    return RecommendationOut.from_result(result, lang)
