"""Liveness and readiness probes for load balancers and orchestrators."""

from fastapi import APIRouter
from sqlalchemy.exc import SQLAlchemyError

from moodtune.api.deps import IndexDep, SessionDep
from moodtune.api.schemas import ErrorOut, HealthOut, ReadyOut, SnapshotOut
from moodtune.catalog import repo
from moodtune.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut)
def healthz() -> HealthOut:
    """The process is up (says nothing about the database)."""
    return HealthOut(status="ok")


@router.get("/readyz", response_model=ReadyOut, responses={503: {"model": ErrorOut}})
def readyz(session: SessionDep, index: IndexDep) -> ReadyOut:
    """Ready to serve: the database answers and the catalog index is loaded."""
    try:
        tracks = repo.track_count(session=session)
    except SQLAlchemyError as exc:
        raise Unavailable("database unreachable", reason=type(exc).__name__) from exc
    snapshot = index.snapshot
    if snapshot is None:
        raise Unavailable("catalog index not loaded yet")
    return ReadyOut(
        status="ready",
        database="ok",
        catalog={"tracks": tracks, "placeable": len(snapshot.matrix)},
        snapshot=SnapshotOut(key=snapshot.key, origin=snapshot.origin),
    )
