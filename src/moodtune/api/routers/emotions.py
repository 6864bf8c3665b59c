"""Photos in, emotions (and playlists) out. Photos are processed in memory and never stored."""

import json
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from moodtune.api.deps import (
    IndexDep,
    LangDep,
    OptionalListenerDep,
    SessionDep,
    SettingsDep,
    TasteCacheDep,
)
from moodtune.api.schemas import (
    ErrorOut,
    MoodPlaylistOut,
    PhotoEmotionsOut,
    RecommendationOut,
    RecommendIn,
)
from moodtune.api.uploads import multipart_body, read_photo_form
from moodtune.errors import ModelError, NoFace
from moodtune.service import playlist_for_listener
from moodtune.vision.pipeline import EmotionPipeline, PhotoEmotions

router = APIRouter(tags=["emotions"])

_PHOTO_BODY = multipart_body("image", "JPEG, PNG, WebP or HEIC")
_PHOTO_ERRORS: dict[int | str, dict[str, Any]] = {
    c: {"model": ErrorOut} for c in (400, 413, 415, 422, 500)
}


def _pipeline(request: Request) -> EmotionPipeline:
    pipeline = request.app.state.vision
    if isinstance(pipeline, Exception):
        raise ModelError(f"the emotion model is not available: {pipeline}")
    return pipeline  # type: ignore[no-any-return]


#: Form fields ``POST /mood-playlist`` takes beside the photo: the photo gives the mood, so
#: the other mood fields are refused like any unknown field.
PLAYLIST_FIELDS = frozenset(RecommendIn.model_fields) - {"emotion", "emotions", "point", "feeling"}
#: Form values are text; these are read as JSON (10, true) to meet the JSON body's types.
_TYPED_FIELDS = frozenset({"n", "seed", "explicit", "playable_only", "include_non_music"})


def _form_value(name: str, value: str) -> object:
    if name == "genres":
        return [g.strip() for g in value.split(",") if g.strip()]
    if name in _TYPED_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # validation names the field and the problem
    return value


async def _analyse(
    request: Request, max_bytes: int, allowed: frozenset[str] = frozenset()
) -> tuple[PhotoEmotions, dict[str, str]]:
    data, fields = await read_photo_form(request, max_bytes=max_bytes, allowed=allowed)
    pipeline, metrics = _pipeline(request), request.app.state.metrics
    started = time.perf_counter()
    try:
        photo = await run_in_threadpool(pipeline.analyse, data)
    except NoFace:
        metrics.photo_analyses.labels("no_face").inc()
        raise
    finally:
        metrics.photo_seconds.observe(time.perf_counter() - started)
    metrics.photo_analyses.labels("faces").inc()
    return photo, fields


@router.post(
    "/emotions", response_model=PhotoEmotionsOut, responses=_PHOTO_ERRORS, openapi_extra=_PHOTO_BODY
)
async def detect_emotions(request: Request, settings: SettingsDep) -> PhotoEmotionsOut:
    """Find every face in the photo (field ``image``) with its 7 emotion probabilities.

    Errors: 415 not an image, 413 too large, 400 undecodable or a malformed form, 422 no face
    or a form field besides ``image``.
    """
    photo, _ = await _analyse(request, settings.max_upload_bytes)
    return PhotoEmotionsOut.model_validate(photo.as_dict())


@router.post(
    "/mood-playlist",
    response_model=MoodPlaylistOut,
    responses=_PHOTO_ERRORS,
    openapi_extra=_PHOTO_BODY,
)
async def mood_playlist(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    index: IndexDep,
    listener: OptionalListenerDep,
    taste_cache: TasteCacheDep,
    lang: LangDep,
) -> MoodPlaylistOut:
    """Emotions and a playlist in one call: the photo (field ``image``) plus the parameters of
    ``POST /recommendations`` as form fields (``genres`` comma-separated). The mood point blends
    all faces, larger faces weighing more."""
    photo, fields = await _analyse(request, settings.max_upload_bytes, PLAYLIST_FIELDS)
    params = {name: _form_value(name, value) for name, value in fields.items()}
    try:
        body = RecommendIn.model_validate({**params, "emotions": photo.blended()})
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    result = await run_in_threadpool(
        playlist_for_listener,
        body.params(),
        listener.id if listener else None,
        index=index,
        taste_cache=taste_cache,
        session=session,
    )
    request.app.state.metrics.recommendations.labels(body.strategy).inc()
    playlist = RecommendationOut.from_result(result, lang)
    return MoodPlaylistOut(
        photo=PhotoEmotionsOut.model_validate(photo.as_dict()), **playlist.model_dump()
    )
