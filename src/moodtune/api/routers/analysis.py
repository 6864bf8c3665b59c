"""Upload a track, hear what the network hears, get tracks like it (seed 001).

The upload is held in memory, then written to an unnamed temporary file (``O_TMPFILE``: no
name in any directory, gone when closed) only because the decoders read from a path; it is
never stored, and analysis is bounded to the same windows as ``moodtune analyze``.
"""

import base64
import io
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from PIL import Image
from starlette.concurrency import run_in_threadpool

from moodtune.api.deps import IndexDep, LangDep, SessionDep, SettingsDep
from moodtune.api.schemas import (
    FEATURE_FIELDS,
    AnalysisOut,
    ErrorOut,
    HeardMoodOut,
    RankedTrackOut,
    SimilarTrackOut,
    TrackOut,
    ranked_tracks_out,
    reasons_out,
)
from moodtune.api.uploads import multipart_body, read_upload_form
from moodtune.audio.analysis import TrackAnalysis, analyse_unnamed, key_name
from moodtune.audio.embed import AudioModel
from moodtune.catalog import repo
from moodtune.catalog.index import CatalogIndex
from moodtune.errors import BadAudio, ModelError, UnsupportedMedia
from moodtune.recommend.heard import QUADRANTS
from moodtune.recommend.rank import heard_placement_of
from moodtune.recommend.similar import nearest_to_vector, similarity_reasons
from moodtune.service import PlaylistParams, recommend_playlist

router = APIRouter(tags=["analysis"])

#: Declared types that cannot be audio; anything else is tried (browsers send odd types).
_NOT_AUDIO = ("text/", "image/", "video/", "application/pdf", "application/json")
_AUDIO_BODY = multipart_body("audio", "mp3, flac, ogg/opus, wav, aiff (m4a/aac with PyAV)")
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorOut} for c in (400, 413, 415, 500)}


def _audio_model(request: Request) -> AudioModel:
    """Loaded on first use: a server that never analyses uploads never pays for it."""
    model = getattr(request.app.state, "audio_model", None)
    if model is None:
        try:
            model = AudioModel.from_path()
        except Exception as exc:
            raise ModelError(f"the audio model is not available: {exc}") from exc
        request.app.state.audio_model = model
    return model


def spectrogram_png(mel: np.ndarray) -> str:
    """The first analysed window's log-mel as a small PNG data URI (low bands at the bottom)."""
    top = float(mel.max())
    scaled = np.clip((mel - (top - 80.0)) / 80.0, 0.0, 1.0)[::-1]
    # A two-colour ramp (dark blue to warm yellow): readable in both themes, no colormap library.
    low, high = np.array([20, 24, 60], float), np.array([255, 214, 90], float)
    rgb = (low + scaled[..., None] * (high - low)).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").resize((min(mel.shape[1], 640), 128))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _analyse_bytes(data: bytes, model: AudioModel) -> TrackAnalysis:
    try:
        return analyse_unnamed(lambda handle: handle.write(data), model)
    except BadAudio as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise BadAudio(f"the upload cannot be analysed: {reason}") from exc


def _like_it(
    analysis: TrackAnalysis, index: CatalogIndex, session: Any, lang: str, n: int
) -> tuple[HeardMoodOut, list[RankedTrackOut], list[SimilarTrackOut]]:
    snapshot = index.current()
    quadrants = np.array([[analysis.quadrant[q] for q in QUADRANTS]])
    heard = heard_placement_of(snapshot.matrix.heard_model.place_audio(quadrants), 0, "audio")
    result = recommend_playlist(
        PlaylistParams(
            emotions=None,
            point=(heard.valence, heard.arousal),
            n=n,
            seed=0,
            intent="intent_like_upload",
        ),
        matrix=snapshot.matrix,
        session=session,
    )
    catalog = ranked_tracks_out(result, lang)
    found = nearest_to_vector(snapshot.embeddings, analysis.embedding, n)
    tracks = repo.tracks_by_ids([i for i, _ in found], session=session)
    styles = repo.embedding_styles([i for i, _ in found], session=session)
    library = [
        SimilarTrackOut(
            **TrackOut.from_track(tracks[i]).model_dump(),
            similarity=cosine,
            reasons=reasons_out(
                similarity_reasons(
                    cosine,
                    analysis.features,
                    {f: getattr(tracks[i], f) for f in FEATURE_FIELDS},
                    analysis.style,
                    styles.get(i, {}),
                ),
                lang,
            ),
        )
        for i, cosine in found
        if i in tracks
    ]
    return HeardMoodOut(**vars(heard)), catalog, library


@router.post("/analyze", response_model=AnalysisOut, responses=_ERRORS, openapi_extra=_AUDIO_BODY)
async def analyze_upload(
    request: Request,
    settings: SettingsDep,
    session: SessionDep,
    index: IndexDep,
    lang: LangDep,
) -> AnalysisOut:
    """What the audio network hears in an uploaded track (field ``audio``): style, heard mood
    and quadrant, tempo, key and mode, loudness, each with its estimator, a mel-spectrogram
    picture, and tracks like it: from the catalog by heard mood and features, from the
    analysed library by embedding. Long files are analysed in the same bounded windows as
    ``moodtune analyze``; nothing is stored.

    Errors: 413 over ``MOODTUNE_MAX_AUDIO_BYTES``, 415 not audio (by declared type, or
    nothing a decoder can open), 400 damaged or too short."""
    data, declared, _ = await read_upload_form(
        request, field="audio", what="track", max_bytes=settings.max_audio_bytes
    )
    if declared.startswith(_NOT_AUDIO):
        raise UnsupportedMedia(f"{declared} is not audio", content_type=declared)
    analysis = await run_in_threadpool(_analyse_bytes, data, _audio_model(request))
    heard, catalog, library = await run_in_threadpool(_like_it, analysis, index, session, lang, 5)
    features = analysis.features
    return AnalysisOut(
        style={k: round(v, 4) for k, v in sorted(analysis.style.items(), key=lambda kv: -kv[1])},
        heard_mood=heard,
        features=features,
        key_name=key_name(features.get("key"), features.get("mode")),
        estimators=analysis.estimators,
        duration_s=round(analysis.duration_s, 3),
        analysed_s=round(analysis.analysed_s, 3),
        music_likelihood=analysis.music.likelihood,
        non_music=analysis.music.reason,
        spectrogram=spectrogram_png(analysis.mel_preview)
        if analysis.mel_preview is not None
        else None,
        catalog=catalog,
        library=library,
    )
