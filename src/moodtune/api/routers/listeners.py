"""Feedback events and the anonymous listener behind the cookie."""

from fastapi import APIRouter, status

from moodtune.api.deps import ListenerDep, ListenerIdDep, SessionDep
from moodtune.api.schemas import ErrorOut, FeedbackIn, FeedbackOut, ListenerOut, TasteOut
from moodtune.catalog import repo
from moodtune.service import taste_summary

router = APIRouter(tags=["listener"])


@router.get("/listeners/me", response_model=ListenerOut)
def me(listener_id: ListenerIdDep, session: SessionDep) -> ListenerOut:
    """This browser's anonymous listener: its id (and cookie) is given on the first call, and
    it is stored with its first feedback or playlist (``created_at`` is null until then)."""
    listener = repo.get_listener(listener_id, session=session)
    return ListenerOut(id=listener_id, created_at=listener.created_at if listener else None)


@router.get("/listeners/me/taste", response_model=TasteOut)
def my_taste(listener_id: ListenerIdDep, session: SessionDep) -> TasteOut:
    """What moodtune has learned from this browser's likes, dislikes, plays and skips."""
    return TasteOut(**taste_summary(listener_id, session=session))


@router.post(
    "/feedback",
    response_model=FeedbackOut,
    status_code=status.HTTP_201_CREATED,
    responses={404: {"model": ErrorOut}, 422: {"model": ErrorOut}},
)
def add_feedback(body: FeedbackIn, listener: ListenerDep, session: SessionDep) -> FeedbackOut:
    """Record a play, like, dislike, skip (with the position reached) or completed play."""
    event = repo.add_feedback(
        session=session,
        listener=listener,
        track_id=body.track_id,
        kind=body.kind,
        position_ms=body.position_ms,
    )
    session.commit()
    return FeedbackOut.model_validate(event, from_attributes=True)
